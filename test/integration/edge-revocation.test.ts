// check-revocation through a real gateway on a real Redis (issue 4 point 2; RFC 7009 §2.2;
// catalogue J65, J67, J68, F02/F03): every revocation kind, the userCutoff boundary, the client
// namespace, and fail-closed 503s when Redis is killed or frozen, then recovery.
import t, { type Test } from 'tap'
import { disableClient, enableClient, userCutoff } from '../../src/oauth/accounts.js'
import { RedisStore } from '../../src/store/index.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/redis-server.js'
import { clientClaims, mint, userClaims } from '../helpers/tokens.js'

// persistent: recovery after a restart keeps the data (without it the store epoch changes, SECURITY.md E02)
const redis = await startRedis({ persistent: true })
t.teardown(() => redis.stop())
const echo = await startEchoUpstream()
t.teardown(() => echo.close())

/** The store's command timeout; a fail-closed answer comes within twice it (timeout, guard grace, scheduling). */
const REDIS_TIMEOUT_MS = 1000
const store = new RedisStore({ url: redis.url, timeoutMs: REDIS_TIMEOUT_MS, prefix: 'edge-revocation:' })
t.teardown(() => store.close())
// (no top-level assertion here: tap would end the root test before the subtests are added)
if (!await store.ready(5000)) throw new Error('redis-server did not become ready')

// REVOCATION_MODE=strict: this file is the per-request read (a revocation refused on the very next
// request, a dead or frozen Redis a 503 at once); the replicated default: revocation-replication.test.ts
const gw = await startTestGateway(t, {
  store,
  env: { REVOCATION_MODE: 'strict' },
  routes: `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /me
    upstream: echo
  - path: /maybe
    upstream: echo
    auth: optional
  - path: /open
    upstream: echo
    auth: none
`
})

const REVOKED = 'Bearer realm="portcullis", error="invalid_token", error_description="The access token was revoked"'
const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'The token store is unavailable; retry later' }
const now = (): number => Math.floor(Date.now() / 1000)

async function get (path: string, token?: string): Promise<{ status: number; body: unknown; headers: Headers; ms: number; forwarded: boolean }> {
  const before = echo.seen.length
  const started = Date.now()
  const res = await fetch(gw.url + path, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  const text = await res.text()
  return { status: res.status, body: JSON.parse(text), headers: res.headers, ms: Date.now() - started, forwarded: echo.seen.length > before }
}

async function refusedAsRevoked (t: Test, token: string, why: string): Promise<void> {
  const a = await get('/me', token)
  t.equal(a.status, 401, why)
  t.equal(a.headers.get('www-authenticate'), REVOKED, why)
  t.same(a.body, { error: 'invalid_token', error_description: 'The access token was revoked' }, why)
  t.notOk(a.forwarded, `${why}: not forwarded`)
}

t.test('J65 / RFC 7009 §2.2: a token whose jti is revoked is refused; its siblings are not', async (t) => {
  const c = userClaims(gw.config, { sub: 'jti-user' })
  const tok = mint(gw.keys, c)
  const sibling = mint(gw.keys, userClaims(gw.config, { sub: 'jti-user', sid: c.sid }))
  t.equal((await get('/me', tok)).status, 200)
  await store.revokeToken(c.jti, c.exp)
  await refusedAsRevoked(t, tok, 'revoked jti')
  t.equal((await get('/me', sibling)).status, 200, 'another token of the same session still works')
})

t.test('a revoked session (refresh-token family) refuses all its access tokens', async (t) => {
  const sid = 'sess-revoked'
  const a = mint(gw.keys, userClaims(gw.config, { sub: 'sid-user', sid }))
  const b = mint(gw.keys, userClaims(gw.config, { sub: 'sid-user', sid }))
  const other = mint(gw.keys, userClaims(gw.config, { sub: 'sid-user', sid: 'sess-other' }))
  t.equal((await get('/me', a)).status, 200)
  await store.revokeSession(sid, now() + 900)
  await refusedAsRevoked(t, a, 'session token a')
  await refusedAsRevoked(t, b, 'session token b')
  t.equal((await get('/me', other)).status, 200, 'another session of the same user still works')
})

t.test('userCutoff: tokens with iat < revokedBefore are refused, later ones pass', async (t) => {
  const revokedAt = Date.now()
  const cutoff = userCutoff(revokedAt)
  const sameSecond = mint(gw.keys, userClaims(gw.config, { sub: 'carol', iat: Math.floor(revokedAt / 1000) }))
  const nextSecond = mint(gw.keys, userClaims(gw.config, { sub: 'carol', iat: cutoff }))
  const otherUser = mint(gw.keys, userClaims(gw.config, { sub: 'dave', iat: Math.floor(revokedAt / 1000) }))
  t.equal((await get('/me', sameSecond)).status, 200, 'before the revocation')
  await store.revokeUserBefore('carol', cutoff)
  await refusedAsRevoked(t, sameSecond, 'issued in the revocation second (iat < cutoff)')
  t.equal((await get('/me', nextSecond)).status, 200, 'iat = cutoff: issued after the revocation')
  t.equal((await get('/me', otherUser)).status, 200, 'another user is untouched')
})

t.test('a disabled user and a disabled client are refused', async (t) => {
  const createdAt = now()
  const user = mint(gw.keys, userClaims(gw.config, { sub: 'erin', client_id: 'app-ok' }))
  await store.putUser({ name: 'erin', passwordHash: 'x', scopes: [], disabled: false, createdAt })
  t.equal((await get('/me', user)).status, 200)
  await store.putUser({ name: 'erin', passwordHash: 'x', scopes: [], disabled: true, createdAt })
  await refusedAsRevoked(t, user, 'disabled user')
  await store.putUser({ name: 'erin', passwordHash: 'x', scopes: [], disabled: false, createdAt })
  t.equal((await get('/me', user)).status, 200, 'enabled again')

  const viaClient = mint(gw.keys, userClaims(gw.config, { sub: 'frank', client_id: 'app-off' }))
  const clientToken = mint(gw.keys, clientClaims(gw.config, 'app-off'))
  await store.putClient({ id: 'app-off', secretHash: 'x', grants: ['password'], scopes: [], disabled: true, createdAt })
  await refusedAsRevoked(t, viaClient, 'user token of a disabled client')
  await refusedAsRevoked(t, clientToken, 'client_credentials token of a disabled client')
})

t.test('clients disable, then enable: the client\'s tokens from before the disable stay refused (client cut-off)', async (t) => {
  const disabledAt = Date.now()
  const cutoff = userCutoff(disabledAt)
  await store.putClient({ id: 'app-back', secretHash: 'x', grants: ['password'], scopes: [], disabled: false, createdAt: now() })
  const before = [
    mint(gw.keys, userClaims(gw.config, { sub: 'gina', client_id: 'app-back', iat: Math.floor(disabledAt / 1000) })),
    mint(gw.keys, clientClaims(gw.config, 'app-back', { iat: Math.floor(disabledAt / 1000) }))
  ]
  const after = mint(gw.keys, clientClaims(gw.config, 'app-back', { iat: cutoff }))
  for (const token of before) t.equal((await get('/me', token)).status, 200, 'served before the disable')
  await disableClient(store, 'app-back', { now: () => disabledAt })
  await enableClient(store, 'app-back')
  for (const token of before) await refusedAsRevoked(t, token, 'issued before the disable: still refused after the enable')
  t.equal((await get('/me', after)).status, 200, 'iat = cut-off: issued after the disable, served')
})

t.test('J52: user revocation rows never apply to a client subject (client:<id>)', async (t) => {
  const tok = mint(gw.keys, clientClaims(gw.config, 'svc'))
  // what a user literally named like the client's subject could set (accounts.ts forbids ':')
  await store.revokeUserBefore('client:svc', now() + 3600)
  await store.putUser({ name: 'client:svc', passwordHash: 'x', scopes: [], disabled: true, createdAt: now() })
  const a = await get('/me', tok)
  t.equal(a.status, 200)
  t.equal(echo.seen.at(-1)!.headers['x-auth-subject-type'], 'client')
  await store.revokeToken(JSON.parse(Buffer.from(tok.split('.')[1]!, 'base64url').toString()).jti as string, now() + 900)
  await refusedAsRevoked(t, tok, 'its own jti revocation still applies')
})

async function recovers (t: Test, token: string): Promise<void> {
  const deadline = Date.now() + 10_000
  let status = 0
  while (Date.now() < deadline) {
    status = (await get('/me', token)).status
    if (status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(status, 200, 'served again once Redis is back')
}

async function failsClosed (t: Test, token: string, why: string): Promise<void> {
  // baseline: an anonymous answer needs no Redis; the machine's current speed, measured right now
  const baseline = (await get('/healthz')).ms
  const a = await get('/me', token)
  t.equal(a.status, 503, why)
  t.same(a.body, UNAVAILABLE, why)
  t.equal(a.headers.get('retry-after'), '2', `${why}: Retry-After`)
  t.equal(a.headers.get('www-authenticate'), null, `${why}: a server condition, no challenge`)
  t.notOk(a.forwarded, `${why}: never forwarded`)
  t.ok(a.ms < 2 * REDIS_TIMEOUT_MS + 4 * baseline, `${why}: answered in ${a.ms} ms (within twice the store timeout of the ${baseline} ms baseline)`)
}

t.test('F02 / J67: Redis stopped mid-test → 503 + Retry-After fast, anonymous routes still served, then recovery', async (t) => {
  const tok = mint(gw.keys, userClaims(gw.config, { sub: 'kill-user' }))
  t.equal((await get('/me', tok)).status, 200)
  await redis.kill()
  await failsClosed(t, tok, 'redis killed')
  await failsClosed(t, tok, 'redis killed, again')
  // J68: what needs no store lookup keeps working
  t.equal((await get('/open')).status, 200, 'auth: none is served')
  const anon = await get('/maybe')
  t.equal(anon.status, 200, 'anonymous auth: optional is served')
  t.equal(echo.seen.at(-1)!.headers['x-auth-subject'], undefined)
  t.equal((await get('/maybe', tok)).status, 503, 'a token on auth: optional cannot be checked: fails closed too')
  await redis.restart()
  await recovers(t, tok)
})

t.test('F03: Redis frozen (SIGSTOP) mid-test → 503 within two seconds, then recovery on SIGCONT', async (t) => {
  const tok = mint(gw.keys, userClaims(gw.config, { sub: 'pause-user' }))
  t.equal((await get('/me', tok)).status, 200)
  redis.pause()
  try {
    await failsClosed(t, tok, 'redis frozen')
  } finally {
    redis.resume()
  }
  await recovers(t, tok)
})
