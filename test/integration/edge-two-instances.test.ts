// Two gateway instances sharing one Redis (issue 4 "Done when"): one key set (the second instance's
// KeyRing loads the first's key), and a revocation made through one instance's store — by jti, by
// session, by user cut-off — is enforced by the other on its next request.
import t from 'tap'
import { userCutoff } from '../../src/oauth/accounts.js'
import { RedisStore } from '../../src/store/index.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/redis-server.js'
import { basic, seedClient, seedUser } from '../helpers/oauth.js'
import { mint, userClaims } from '../helpers/tokens.js'

const redis = await startRedis()
t.teardown(() => redis.stop())
const echo = await startEchoUpstream()
t.teardown(() => echo.close())

const ROUTES = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /orders/*
    methods: [GET]
    upstream: echo
    scopes: [orders:read]
`
const storeA = new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'two:' })
const storeB = new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'two:' })
t.teardown(() => storeA.close())
t.teardown(() => storeB.close())
// (no top-level assertion here: tap would end the root test before the subtests are added)
if (!await storeA.ready(5000) || !await storeB.ready(5000)) throw new Error('redis-server did not become ready')
// REVOCATION_MODE=strict: "on its next request" is the per-request read's promise; the replicated
// default's (within REVOCATION_MAX_LAG, milliseconds normally): revocation-replication.test.ts
const a = await startTestGateway(t, { routes: ROUTES, store: storeA, env: { REVOCATION_MODE: 'strict' } })
const b = await startTestGateway(t, { routes: ROUTES, store: storeB, env: { REVOCATION_MODE: 'strict' } })

const REVOKED = 'Bearer realm="portcullis", error="invalid_token", error_description="The access token was revoked"'

async function status (gw: { url: string }, token: string): Promise<{ status: number; challenge: string | null }> {
  const res = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${token}` } })
  await res.arrayBuffer()
  return { status: res.status, challenge: res.headers.get('www-authenticate') }
}

t.test('both instances share one signing key set through Redis', async (t) => {
  t.equal(a.keys.signingKey().kid, b.keys.signingKey().kid, 'B loaded the key A created')
  t.not(a.keys, b.keys, 'two separate rings')
  t.equal((await status(b, mint(a.keys, userClaims(a.config, { scope: 'orders:read' })))).status, 200, 'minted by A, accepted by B')
  t.equal((await status(a, mint(b.keys, userClaims(b.config, { scope: 'orders:read' })))).status, 200, 'minted by B, accepted by A')
})

t.test('RFC 7009 §2.2: a jti revoked through A is refused by B on its next request', async (t) => {
  const c = userClaims(a.config, { scope: 'orders:read' })
  const tok = mint(a.keys, c)
  t.equal((await status(b, tok)).status, 200)
  await storeA.revokeToken(c.jti, c.exp)
  t.same(await status(b, tok), { status: 401, challenge: REVOKED })
  t.same(await status(a, tok), { status: 401, challenge: REVOKED })
})

t.test('a session revoked through B is refused by A', async (t) => {
  const sid = 'shared-session'
  const tok = mint(a.keys, userClaims(a.config, { scope: 'orders:read', sid }))
  t.equal((await status(a, tok)).status, 200)
  await storeB.revokeSession(sid, Math.floor(Date.now() / 1000) + 900)
  t.same(await status(a, tok), { status: 401, challenge: REVOKED })
})

t.test('a user cut-off written through A (userCutoff rule) is enforced by B', async (t) => {
  const issued = Math.floor(Date.now() / 1000)
  const tok = mint(a.keys, userClaims(a.config, { scope: 'orders:read', sub: 'grace', iat: issued }))
  t.equal((await status(b, tok)).status, 200)
  const cutoff = userCutoff(Date.now())
  await storeA.revokeUserBefore('grace', cutoff)
  t.same(await status(b, tok), { status: 401, challenge: REVOKED }, 'iat < cutoff')
  const later = mint(b.keys, userClaims(b.config, { scope: 'orders:read', sub: 'grace', iat: cutoff }))
  t.equal((await status(b, later)).status, 200, 'a token issued from the cut-off second on passes')
})

async function postForm (gw: { url: string }, path: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(params).toString() })
  const text = await res.text()
  return { status: res.status, body: text === '' ? {} : JSON.parse(text) as Record<string, string> }
}

t.test('real tokens from A\'s /oauth/token: login, call B, logout at A (RFC 7009), refused by B', async (t) => {
  await seedUser(storeA, 'heidi', 'correct horse battery', ['orders:read'])
  await seedClient(storeA, 'mobile-app', { grants: ['password', 'refresh_token'], scopes: ['orders:read'] })
  const login = await postForm(a, '/oauth/token', { grant_type: 'password', username: 'heidi', password: 'correct horse battery', client_id: 'mobile-app', scope: 'orders:read' })
  t.equal(login.status, 200)
  const access = login.body.access_token!
  t.equal((await status(b, access)).status, 200, 'the access token from A works on B')
  t.equal(echo.seen.at(-1)!.headers['x-auth-subject'], 'heidi')
  const refreshed = await postForm(b, '/oauth/token', { grant_type: 'refresh_token', refresh_token: login.body.refresh_token!, client_id: 'mobile-app' })
  t.equal(refreshed.status, 200, 'refreshed at B')
  const access2 = refreshed.body.access_token!
  t.equal((await status(a, access2)).status, 200)
  const logout = await postForm(a, '/oauth/revoke', { token: refreshed.body.refresh_token!, client_id: 'mobile-app' })
  t.equal(logout.status, 200)
  t.same(await status(b, access2), { status: 401, challenge: REVOKED }, 'the session\'s access token is refused on B')
  t.same(await status(b, access), { status: 401, challenge: REVOKED }, 'and the first one of the family too')
})

t.test('a real client_credentials token from B is typed client on A', async (t) => {
  await seedClient(storeB, 'reporting', { secret: 's3cret-s3cret', grants: ['client_credentials'], scopes: ['orders:read'] })
  const issued = await postForm(b, '/oauth/token', { grant_type: 'client_credentials', scope: 'orders:read' }, { authorization: basic('reporting', 's3cret-s3cret') })
  t.equal(issued.status, 200)
  t.equal((await status(a, issued.body.access_token!)).status, 200)
  t.equal(echo.seen.at(-1)!.headers['x-auth-subject'], 'client:reporting')
  t.equal(echo.seen.at(-1)!.headers['x-auth-subject-type'], 'client')
})
