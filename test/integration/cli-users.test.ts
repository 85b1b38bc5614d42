// `portcullis users …` as a real process against a real redis-server (issue 3 §1): passwords from
// stdin only, one line on stderr and a non-zero exit on bad input, --json shapes, never a hash.
import t from 'tap'
import { verifySecret } from '../../src/oauth/passwords.js'
import { createStore, RedisStore } from '../../src/store/index.js'
import { startRedis } from '../helpers/redis-server.js'
import { json, runCli, transcript, type CliResult } from '../fixtures/run-cli.js'
import { basic, buildOAuthApp, FIXTURE, passwordTokens, post, refresh, seedClient } from '../helpers/oauth.js'

const redis = await startRedis()
const store = createStore({ redisUrl: redis.url, timeoutMs: 2000 })
if (store instanceof RedisStore) await store.ready(2000)
t.teardown(async () => { await store.close(); await redis.stop() })

const env = { REDIS_URL: redis.url }
const users = async (args: string[], stdin?: string): Promise<CliResult> =>
  await runCli(['users', ...args], { env, ...(stdin !== undefined && { stdin }) })
const hashOf = async (name: string): Promise<string | null> => (await store.getUser(name))?.passwordHash ?? null

t.test('add: the password is one line from stdin; the name is stored lowercase', async (t) => {
  const r = await users(['add', 'Alice', '--scopes', 'read write'], 'correct horse battery\n')
  t.same(r, { code: 0, stdout: 'user alice added (scopes: read write)\n', stderr: '' })
  t.equal(await verifySecret('correct horse battery', await hashOf('alice')), true, 'the whole line, newline stripped')
  t.equal(await store.getUser('Alice'), null)
})

t.test('bad input: one line on stderr, nothing on stdout, nothing changed', async (t) => {
  const before = await store.getUser('alice')
  const cases: Array<{ what: string; args: string[]; stdin?: string; env?: Record<string, string | undefined>; code: number; stderr: RegExp }> = [
    { what: 'T26: a name differing only in case is the same user', args: ['add', 'ALICE', '--scopes', 'x'], stdin: 'pw\n', code: 1, stderr: /^portcullis: user "alice" already exists$/ },
    { what: 'T27: 72×a + X is refused, not truncated', args: ['add', 'bob', '--scopes', 'x'], stdin: `${'a'.repeat(72)}X\n`, code: 2, stderr: /longer than 72 bytes/ },
    { what: 'there is no --password flag: never from argv', args: ['add', 'bob', '--scopes', 'x', '--password', 'hunter2'], code: 2, stderr: /^portcullis: unknown option '--password'$/ },
    { what: 'an empty stdin is no password', args: ['add', 'bob', '--scopes', 'x'], stdin: '', code: 2, stderr: /^portcullis: no password on stdin/ },
    { what: 'passwd of an unknown user', args: ['passwd', 'nobody'], stdin: 'pw\n', code: 1, stderr: /^portcullis: no user "nobody"$/ },
    { what: 'RFC 6749 §3.3: a scope with a double quote', args: ['set-scopes', 'alice', '--scopes', 'read a"b'], code: 2, stderr: /^portcullis: invalid scope "a\\"b"/ },
    { what: 'without REDIS_URL the CLI refuses (memory would lose the change)', args: ['list'], env: { REDIS_URL: undefined }, code: 1, stderr: /^portcullis: REDIS_URL is not set/ }
  ]
  const results = await Promise.all(cases.map(async (c) => await runCli(['users', ...c.args], {
    env: c.env ?? env, ...(c.stdin !== undefined && { stdin: c.stdin })
  })))
  cases.forEach((c, i) => {
    const r = results[i] as CliResult
    t.equal(r.code, c.code, `${c.what}: exit ${c.code}`)
    t.equal(r.stdout, '', `${c.what}: nothing on stdout`)
    t.match(r.stderr, /^[^\n]+\n$/, `${c.what}: exactly one line on stderr`)
    t.match(r.stderr.trimEnd(), c.stderr, c.what)
  })
  t.equal(await store.getUser('bob'), null, 'bob was never created')
  t.same(await store.getUser('alice'), before, 'alice is unchanged')
})

t.test('passwd: the first stdin line (CRLF stripped) replaces the password', async (t) => {
  const r = await users(['passwd', 'ALICE', '--json'], 'new pass\r\nsecond line is ignored\n')
  t.equal(r.code, 0, r.stderr)
  t.match(json(r), { name: 'alice', scopes: ['read', 'write'], disabled: false, created_at: Number })
  t.same(Object.keys(json(r) as object).sort(), ['created_at', 'disabled', 'name', 'revoked_before', 'scopes'])
  const hash = await hashOf('alice')
  t.equal(await verifySecret('new pass', hash), true)
  t.equal(await verifySecret('correct horse battery', hash), false)
})

t.test('set-scopes replaces the scopes', async (t) => {
  const r = await users(['set-scopes', 'alice', '--scopes', 'read admin read', '--json'])
  t.equal(r.code, 0, r.stderr)
  t.match(json(r), { name: 'alice', scopes: ['read', 'admin'] })
  t.same((await store.getUser('alice'))?.scopes, ['read', 'admin'])
})

t.test('disable refuses tokens at once and sets the cut-off; enable allows logins again', async (t) => {
  const off = await users(['disable', 'alice', '--json'])
  t.equal(off.code, 0, off.stderr)
  t.match(json(off), { name: 'alice', disabled: true })
  const state = await store.checkRevocation({ jti: 'j', sub: 'alice', clientId: 'c' })
  t.equal(state.userDisabled, true)
  t.type(state.userRevokedBefore, 'number')
  const on = await users(['enable', 'Alice'])
  t.same(on, { code: 0, stdout: 'user alice enabled\n', stderr: '' })
  t.equal((await store.checkRevocation({ jti: 'j', sub: 'alice', clientId: 'c' })).userDisabled, false)
})

t.test('revoke: every token issued up to and including this second is refused', async (t) => {
  const before = Math.floor(Date.now() / 1000)
  const r = await users(['revoke', 'ALICE', '--json'])
  const after = Math.floor(Date.now() / 1000)
  t.equal(r.code, 0, r.stderr)
  const out = json(r) as { name: string; revoked_before: number }
  t.equal(out.name, 'alice')
  t.ok(out.revoked_before >= before + 1 && out.revoked_before <= after + 1, 'cut-off = the second after the revocation')
  t.equal((await store.checkRevocation({ jti: 'j', sub: 'alice', clientId: 'c' })).userRevokedBefore, out.revoked_before)
})

t.test('passwd ends every session of the user; --keep-sessions keeps them (issue 9 item 17)', async (t) => {
  t.equal((await users(['add', 'bob', '--scopes', 'read'], 'bob first\n')).code, 0)
  await seedClient(store, 'web', { secret: FIXTURE.webSecret, grants: ['password', 'refresh_token'], scopes: ['read'] })
  const { app } = await buildOAuthApp(t, { store })
  const login = await passwordTokens(app, { username: 'bob', password: 'bob first' })
  const active = async (token: string): Promise<unknown> =>
    (await post(app, '/oauth/introspect', { token }, { authorization: basic('web', FIXTURE.webSecret) })).json()

  const kept = await users(['passwd', 'bob', '--keep-sessions', '--json'], 'bob second\n')
  t.equal(kept.code, 0, kept.stderr)
  t.match(json(kept), { name: 'bob', revoked_before: null }, '--keep-sessions: no cut-off')
  const next = await refresh(app, login.refresh_token!)
  t.equal(next.statusCode, 200, 'the session survives a --keep-sessions change')
  t.match(await active(next.json().access_token), { active: true })

  const ended = await users(['passwd', 'bob'], 'bob third\n')
  t.equal(ended.code, 0, ended.stderr)
  t.match(ended.stdout, /^password of user bob changed: every token issued before \S+ is refused\n$/)
  t.same((await refresh(app, next.json().refresh_token)).json(),
    { error: 'invalid_grant', error_description: 'The grant is invalid, expired or revoked' }, 'the refresh token from before is refused')
  t.same(await active(next.json().access_token), { active: false }, 'the access token from before is inactive')
  t.equal(await verifySecret('bob third', await hashOf('bob')), true, 'and the new password is in place')
})

t.test('list --json: the public view, never a hash', async (t) => {
  const r = await users(['list', '--json'])
  t.equal(r.code, 0, r.stderr)
  t.match(json(r), [{ name: 'alice', scopes: ['read', 'admin'], disabled: false, created_at: (await store.getUser('alice'))?.createdAt }, { name: 'bob' }])
})

t.test('no output of any run contains a bcrypt hash or a password', async (t) => {
  const all = transcript.join('\n')
  t.ok(all.length > 0)
  t.notMatch(all, /\$2[aby]\$\d\d\$/)
  t.notMatch(all, /correct horse|new pass/)
})
