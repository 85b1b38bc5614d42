// Issue 12 item 7 and the CLI part of item 5, as real processes against a real redis-server: a
// user's sessions (one per refresh family) listed and ended one at a time, and clients registered
// with `--dpop required`. Tokens come from an in-process token endpoint on the same Redis.
import t from 'tap'
import { createStore, RedisStore } from '../../src/store/index.js'
import { startRedis } from '../helpers/redis-server.js'
import { json, runCli } from '../fixtures/run-cli.js'
import { liveSessions } from '../../src/oauth/sessions.js'
import { buildOAuthApp, decodeSegment, FIXTURE, post, seedFixture } from '../helpers/oauth.js'

const redis = await startRedis()
const store = createStore({ redisUrl: redis.url, timeoutMs: 2000 })
if (store instanceof RedisStore) await store.ready(2000)
t.teardown(async () => { await store.close(); await redis.stop() })
const env = { REDIS_URL: redis.url }

const { app } = await buildOAuthApp(t, { store, env: { TOKEN_RATE_LIMIT: '1000' } })
await seedFixture(store)
const login = async (agent: string, ip: string): Promise<Record<string, string>> => {
  const res = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    remoteAddress: ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': agent },
    payload: new URLSearchParams({ grant_type: 'password', client_id: 'spa', username: FIXTURE.user, password: FIXTURE.password }).toString()
  })
  return res.json()
}
const refresh = async (rt: string, agent = 'x'): Promise<number> =>
  (await post(app, '/oauth/token', { grant_type: 'refresh_token', client_id: 'spa', refresh_token: rt }, { 'user-agent': agent })).statusCode

t.test('users sessions lists each refresh family with client, times, IP and agent; users revoke --session ends one', async (t) => {
  const phone = await login('Phone/1.0', '192.0.2.7')
  const tablet = await login('Tablet/2.0 (\u0007bell)', '2001:db8::9')
  const phoneSid = decodeSegment(phone.access_token!, 1).sid as string
  const tabletSid = decodeSegment(tablet.access_token!, 1).sid as string
  t.equal(await refresh(phone.refresh_token!, 'Phone/1.1'), 200)

  const listed = await runCli(['users', 'sessions', 'ALICE', '--json'], { env })
  t.equal(listed.code, 0, listed.stderr)
  const sessions = json(listed) as Array<Record<string, unknown>>
  t.same(sessions.map((s) => s.session).sort(), [phoneSid, tabletSid].sort(), 'one session per family')
  const p = sessions.find((s) => s.session === phoneSid)!
  t.match(p, { client_id: 'spa', ip: '127.0.0.1', user_agent: 'Phone/1.1', created_at: Number, last_used_at: Number, expires_at: Number }, 'IP and agent of the last use: the refresh')
  t.ok((p.last_used_at as number) >= (p.created_at as number))
  t.match(sessions.find((s) => s.session === tabletSid), { ip: '2001:db8::9', user_agent: 'Tablet/2.0 (?bell)' }, 'a control character in a user agent is never kept')

  const ended = await runCli(['users', 'revoke', 'alice', '--session', phoneSid, '--json'], { env })
  t.equal(ended.code, 0, ended.stderr)
  t.same(json(ended), { name: 'alice', session: phoneSid, revoked: true })
  const claims = decodeSegment(phone.access_token!, 1) as { jti: string, sid: string }
  t.equal((await store.checkRevocation({ jti: claims.jti, sid: claims.sid, sub: 'alice', clientId: 'spa' })).sessionRevoked, true, 'its access tokens are refused at every instance')
  t.equal(await refresh(phone.refresh_token!), 400, 'its refresh tokens are dead')
  t.equal(await refresh(tablet.refresh_token!, 'Tablet/2.1'), 200, 'the other session lives on')

  t.same((await liveSessions(store, 'alice')).map((s) => s.sid), [tabletSid], 'an ended session is no longer listed')
  const [again, text] = await Promise.all([
    runCli(['users', 'revoke', 'alice', '--session', phoneSid], { env }),
    runCli(['users', 'sessions', 'alice'], { env })
  ])
  t.same(again, { code: 1, stdout: '', stderr: `portcullis: user alice has no live session "${phoneSid}"\n` })

  // the text table: one row per live session, times in ISO 8601 UTC, columns aligned under the header
  t.equal(text.code, 0, text.stderr)
  const iso = (s: unknown): string => new Date((s as number) * 1000).toISOString().replace(/\.000Z$/, 'Z')
  const tab = sessions.find((s) => s.session === tabletSid)!
  const [header = '', row = '', ...rest] = text.stdout.split('\n')
  t.match(header, /^SESSION +CLIENT +CREATED +LAST_USED +IP +USER_AGENT$/)
  t.equal(row.split(/ {2,}/).length, 6, 'six cells')
  t.match(row.split(/ {2,}/), [tabletSid, 'spa', iso(tab.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, '127.0.0.1', 'Tablet/2.1'], 'the session left (as of its refresh just now), nothing of the ended one')
  t.same(rest, [''], 'one row')
  const starts = (line: string): number[] => [...line.matchAll(/(?:^| {2,})\S/g)].map((m) => m.index + m[0].length - 1)
  t.same(starts(row), starts(header), 'each cell starts under its column name')
})

t.test('clients add --dpop required / clients set --dpop: the registry field the token endpoint reads; a bad mode is a usage error (the DPOP column of list: cli-clients.test.ts)', async (t) => {
  const added = await runCli(['clients', 'add', 'strict-app', '--grants', 'password refresh_token', '--scopes', 'read', '--public', '--dpop', 'required'], { env })
  t.equal(added.code, 0, added.stderr)
  t.equal((await store.getClient('strict-app'))?.dpop, 'required')
  const res = await post(app, '/oauth/token', { grant_type: 'password', client_id: 'strict-app', username: FIXTURE.user, password: FIXTURE.password })
  t.same(res.json(), { error: 'invalid_dpop_proof', error_description: 'A DPoP proof is required for this client' }, 'the token endpoint reads it')
  const [set, bad] = await Promise.all([
    runCli(['clients', 'set', 'strict-app', '--dpop', 'optional', '--json'], { env }),
    runCli(['clients', 'set', 'strict-app', '--dpop', 'always'], { env })
  ])
  t.match(json(set), { client_id: 'strict-app', dpop: 'optional' })
  t.equal(bad.code, 2, 'a bad mode is a usage error')
  t.match(bad.stderr, /^portcullis: option '--dpop <mode>' argument 'always' is invalid/)
  t.equal((await store.getClient('strict-app'))?.dpop, undefined, 'optional: the field is gone')
  t.equal((await post(app, '/oauth/token', { grant_type: 'password', client_id: 'strict-app', username: FIXTURE.user, password: FIXTURE.password })).statusCode, 200)
})
