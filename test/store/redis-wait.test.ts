// Issue 11 item 5 with REDIS_MIN_REPLICAS=1 on a real master and replica (redis-server --replicaof):
// a durable write is answered only once the replica acknowledged it (WAIT). With the replica frozen
// (SIGSTOP: still "online" for the master, acknowledging nothing) the write gets a 503 instead, and it
// is idempotent: a revocation retried later is in place (and over HTTP, RFC 7009 /oauth/revoke answers
// 503, then 200); so is a user or client disable; a refresh retried with the same token after the 503
// is served, not taken for a replay (RFC 9700 §4.14.2), and so is a code (RFC 6749 §4.1.2).
// With the replica gone, /readyz stays 200 and reports the shortfall (logged once), and writes wait
// for the replicas online (none).
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { RedisStore } from '../../src/store/redis/index.js'
import { StoreUnavailableError } from '../../src/store/types.js'
import { basic, buildOAuthApp, decodeSegment, FIXTURE, passwordTokens, post, refresh, seedFixture } from '../helpers/oauth.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/redis-server.js'
import { until } from '../helpers/redis-topology.js'

const master = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] }) // the replica's first sync at once, not after 5 s
const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] })
t.teardown(async () => { replica.resume(); await replica.stop(); await master.stop() })

const TIMEOUT_MS = 600
const nowS = (): number => Math.floor(Date.now() / 1000)
const warns: object[] = []
const logger = { info () {}, warn (o: object) { warns.push(o) }, error () {} }

async function durableStore (): Promise<RedisStore> {
  const store = new RedisStore({ target: { mode: 'standalone', url: master.url, tls: false, minReplicas: 1 }, timeoutMs: TIMEOUT_MS, prefix: `w-${randomUUID()}:`, logger })
  if (!await store.ready(5000)) throw new Error('not ready')
  await until('the replica is online and counted', async () => store.replicas().online.master === 1)
  return store
}

/** Runs `fn` with the replica frozen; the replica is thawed (and caught up) before this resolves. */
async function withFrozenReplica<T> (fn: () => Promise<T>): Promise<T> {
  replica.pause()
  try {
    return await fn()
  } finally {
    replica.resume()
  }
}

t.test('a revocation waits for the replica; frozen replica: 503 (StoreUnavailableError); the retry is idempotent', async (t) => {
  const store = await durableStore()
  t.teardown(() => store.close())
  await store.revokeToken('j-ok', nowS() + 600)
  const err = await withFrozenReplica(async () => await store.revokeToken('j-frozen', nowS() + 600).then(() => null, (e: unknown) => e))
  t.type(err, StoreUnavailableError, 'not acknowledged within the bound: the store is unavailable for this write')
  t.match((err as Error).message, /reached 0 of 1 replica/)
  await until('retry acknowledged', async () => { await store.revokeToken('j-frozen', nowS() + 600); return true })
  t.equal((await store.checkRevocation({ jti: 'j-frozen', sub: 's', clientId: 'c' })).tokenRevoked, true)
})

t.test('RFC 9700 §4.14.2: a refresh answered 503 because the replica did not acknowledge is retried with the same token and served; RFC 7009 revoke likewise', async (t) => {
  const store = await durableStore()
  t.teardown(() => store.close())
  const { app } = await buildOAuthApp(t, { store, env: { TOKEN_RATE_LIMIT: '1000' } })
  await seedFixture(store)
  const login = await passwordTokens(app)
  const first = await withFrozenReplica(async () => await refresh(app, login.refresh_token!))
  t.equal(first.statusCode, 503, 'not acknowledged: 503')
  t.same(first.json(), { error: 'temporarily_unavailable', error_description: 'The token store is unavailable; retry later' })
  t.ok(first.headers['retry-after'] !== undefined, 'with Retry-After')
  let retry = await refresh(app, login.refresh_token!)
  while (retry.statusCode === 503) retry = await refresh(app, login.refresh_token!) // until the thawed replica caught up
  t.equal(retry.statusCode, 200, 'the retry with the same refresh token is served, not a replay')
  const next = await refresh(app, retry.json().refresh_token)
  t.equal(next.statusCode, 200, 'and the session lives on')
  t.equal((await refresh(app, login.refresh_token!)).statusCode, 400, 'the old token, now really used, is a replay')
  // RFC 7009: revoking the session's refresh token is a durable write too (revokeSession)
  const live = next.json()
  const revoke = async (): Promise<number> => (await post(app, '/oauth/revoke', { token: live.refresh_token }, { authorization: basic('web', FIXTURE.webSecret) })).statusCode
  t.equal(await withFrozenReplica(revoke), 503, 'revoke not acknowledged: 503, not a 200 the replica may lose')
  let again = await revoke()
  while (again === 503) again = await revoke()
  t.equal(again, 200, 'the retry is answered 200')
  t.equal((await refresh(app, live.refresh_token)).statusCode, 400, 'the revoked refresh token is refused')
  const claims = decodeSegment(live.access_token, 1) as { jti: string, sid: string, sub: string, client_id: string }
  t.match(await store.checkRevocation({ jti: claims.jti, sid: claims.sid, sub: claims.sub, clientId: claims.client_id }), { sessionRevoked: true }, 'and so is its access token (its session)')
})

t.test('a user or client disable (updateUser, updateClient) waits for the replica: frozen, the store is unavailable; the retry is served', async (t) => {
  const store = await durableStore()
  t.teardown(() => store.close())
  await store.putUser({ name: 'dora', passwordHash: 'h', scopes: [], disabled: false, createdAt: 1 })
  await store.putClient({ id: 'app', secretHash: null, grants: [], scopes: [], disabled: false, createdAt: 1 })
  const disableUser = async (): Promise<unknown> => await store.updateUser('dora', (u) => ({ ...u, disabled: true }), { revokeBefore: nowS() })
  const disableClient = async (): Promise<unknown> => await store.updateClient('app', (c) => ({ ...c, disabled: true }), { revokeBefore: nowS() })
  const errs = await withFrozenReplica(async () => [await disableUser().catch((e: unknown) => e), await disableClient().catch((e: unknown) => e)])
  for (const e of errs) {
    t.type(e, StoreUnavailableError, 'not acknowledged: the store is unavailable for this write (503)')
    t.match((e as Error).message, /reached 0 of 1 replica/)
  }
  for (const disable of [disableUser, disableClient]) {
    let done = await disable().catch(() => undefined)
    while (done === undefined) done = await disable().catch(() => undefined) // until the thawed replica caught up
    t.match(done, { disabled: true }, 'the retry is served: the record is disabled')
  }
  t.match(await store.checkRevocation({ jti: 'j', sub: 'dora', clientId: 'app' }), { userDisabled: true, clientDisabled: true })
})

t.test('consumeRefreshToken and an authorization code: undone when not acknowledged, so the retry finds them unused', async (t) => {
  const store = await durableStore()
  t.teardown(() => store.close())
  const exp = nowS() + 600
  await store.putRefreshToken('rt', { sid: 's', sub: 'u', clientId: 'c', scope: [], issuedAt: nowS(), expiresAt: exp })
  await store.codes.put('code', { clientId: 'c', sub: 'u', scope: [], redirectUri: 'https://a/cb', codeChallenge: 'x', sid: 's', issuedAt: nowS(), expiresAt: exp })
  await withFrozenReplica(async () => {
    await t.rejects(store.consumeRefreshToken('rt'), StoreUnavailableError)
    await t.rejects(store.codes.consume('code', 600), StoreUnavailableError)
  })
  let rt = await store.consumeRefreshToken('rt').catch(() => null)
  while (rt === null) rt = await store.consumeRefreshToken('rt').catch(() => null)
  t.equal(rt.status, 'active', 'the refresh token was released: the retry consumes it')
  let code = await store.codes.consume('code', 600).catch(() => null)
  while (code === null) code = await store.codes.consume('code', 600).catch(() => null)
  t.equal(code.status, 'active', 'the code too')
  t.equal((await store.codes.consume('code', 600)).status, 'reused', 'and a second use is a replay again')
})

t.test('/readyz reports the replicas and stays 200 when a master is short of them', async (t) => {
  const store = await durableStore()
  t.teardown(() => store.close())
  const gw = await startTestGateway(t, { routes: 'version: 1\nupstreams:\n  up: { url: http://127.0.0.1:9, timeout: 1s }\nroutes:\n  - { path: /x, upstream: up, auth: none }\n', store })
  const ready = await fetch(`${gw.url}/readyz`)
  t.equal(ready.status, 200)
  t.match(await ready.json(), { status: 'ready', replicas: { required: 1, online: { master: 1 }, short: [] } })
  await replica.stop() // gone: the master counts no replica online
  await until('shortfall seen', async () => store.replicas().short.length === 1)
  const short = await fetch(`${gw.url}/readyz`)
  t.equal(short.status, 200, 'still ready: writes wait for the replicas online (none)')
  t.match(await short.json(), { replicas: { required: 1, online: { master: 0 }, short: ['master'] } })
  t.match(warns.filter((w) => 'required' in w), [{ required: 1, online: 'master=0' }], 'logged once')
  await store.revokeToken('no-replica', nowS() + 600) // answered: nothing to wait for
  t.equal((await store.checkRevocation({ jti: 'no-replica', sub: 's', clientId: 'c' })).tokenRevoked, true)
})
