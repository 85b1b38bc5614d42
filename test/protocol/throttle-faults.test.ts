// RFC 6749 §4.3.2 / §10.10 brute-force limits (catalogue T20, T29, T30) and store failures (T47, T61).
import t from 'tap'
import { KeyRing } from '../../src/oauth/keys.js'
import { MemoryStore, RedisStore } from '../../src/store/index.js'
import { basic, buildOAuthApp, FIXTURE, passwordTokens, post, quietLogger, readyRedisStore, refresh, seedFixture } from '../helpers/oauth.js'
import { freePort, startRedis } from '../helpers/redis-server.js'

const webAuth = { authorization: basic('web', FIXTURE.webSecret) }
const pw = { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password }
const THROTTLED = { error: 'slow_down', error_description: 'Too many attempts; retry later' }
const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'The token store is unavailable; retry later' }

t.test('RFC 6749 §4.3.2: after LOGIN_MAX_FAILURES failures → 429 + Retry-After, even with the right password (T29)', async (t) => {
  let now = 1_800_000_000_000
  const store = new MemoryStore({ now: () => now })
  const { app } = await buildOAuthApp(t, { store, now: () => now, env: { LOGIN_MAX_FAILURES: '3', LOGIN_FAILURE_WINDOW: '900' } })
  await seedFixture(store)
  for (let i = 0; i < 3; i++) t.equal((await post(app, '/oauth/token', { ...pw, password: 'wrong' }, webAuth)).statusCode, 400, `failure ${i + 1}`)
  const blocked = await post(app, '/oauth/token', pw, webAuth)
  t.equal(blocked.statusCode, 429)
  t.same(blocked.json(), THROTTLED)
  t.equal(blocked.headers['retry-after'], '900')
  t.equal(blocked.headers['cache-control'], 'no-store')
  t.equal((await post(app, '/oauth/token', { ...pw, username: 'ALICE' }, webAuth)).statusCode, 429, 'case variants share the counter')
  now += 900_000
  t.equal((await post(app, '/oauth/token', pw, webAuth)).statusCode, 200, 'the window ends')
})

t.test('login throttle: a success forgives earlier failures; unknown users are throttled alike', async (t) => {
  const { app, store } = await buildOAuthApp(t, { env: { LOGIN_MAX_FAILURES: '2' } })
  await seedFixture(store)
  await post(app, '/oauth/token', { ...pw, password: 'wrong' }, webAuth)
  t.equal((await post(app, '/oauth/token', pw, webAuth)).statusCode, 200)
  await post(app, '/oauth/token', { ...pw, password: 'wrong' }, webAuth)
  t.equal((await post(app, '/oauth/token', { ...pw, password: 'wrong' }, webAuth)).statusCode, 400, 'counter restarted after the success')
  for (let i = 0; i < 2; i++) await post(app, '/oauth/token', { ...pw, username: 'ghost' }, webAuth)
  const ghost = await post(app, '/oauth/token', { ...pw, username: 'ghost' }, webAuth)
  t.equal(ghost.statusCode, 429, 'no difference between known and unknown users')
})

t.test('TOKEN_RATE_LIMIT per client IP per minute → 429 + Retry-After; X-Forwarded-For changes nothing (T20, T30, T66)', async (t) => {
  const { app, store } = await buildOAuthApp(t, { env: { TOKEN_RATE_LIMIT: '5' } })
  await seedFixture(store)
  for (let i = 0; i < 5; i++) t.equal((await post(app, '/oauth/token', pw, { ...webAuth, 'x-forwarded-for': `10.0.0.${i}` })).statusCode, 200)
  const res = await post(app, '/oauth/introspect', { token: 'x' }, { ...webAuth, 'x-forwarded-for': '10.9.9.9' })
  t.equal(res.statusCode, 429)
  t.same(res.json(), { error: 'rate_limited', error_description: 'Too many requests' })
  t.ok(Number(res.headers['retry-after']) > 0 && Number(res.headers['retry-after']) <= 60, `Retry-After ${String(res.headers['retry-after'])}`)
})

t.test('store unreachable: 503 temporarily_unavailable + Retry-After, never 500, never a token (T47, T61)', async (t) => {
  const dead = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}`, timeoutMs: 200 })
  t.teardown(async () => { await dead.close() })
  const keys = await KeyRing.load(new MemoryStore(), { alg: 'ES256', logger: quietLogger, refreshIntervalMs: 0 })
  t.teardown(() => { keys.close() })
  const { app } = await buildOAuthApp(t, { store: dead, keys, env: { TOKEN_RATE_LIMIT: '4' } })
  const requests: Array<[string, string, Record<string, string>]> = [
    ['token', '/oauth/token', pw],
    ['refresh', '/oauth/token', { grant_type: 'refresh_token', refresh_token: 'A'.repeat(43) }],
    ['revoke', '/oauth/revoke', { token: 'A'.repeat(43) }],
    ['introspect', '/oauth/introspect', { token: 'x.y.z' }]
  ]
  for (const [what, url, params] of requests) {
    const res = await post(app, url, params, webAuth)
    t.equal(res.statusCode, 503, what)
    t.same(res.json(), UNAVAILABLE, what)
    t.equal(res.headers['retry-after'], '1', what)
    t.equal(res.headers['cache-control'], 'no-store', what)
  }
  const limited = await post(app, '/oauth/token', pw, webAuth)
  t.equal(limited.statusCode, 429, 'the per-IP limit still holds on the in-memory fallback (never fail open)')
  const meta = await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })
  t.equal(meta.statusCode, 200, 'metadata is served without the store')
  t.notOk('scopes_supported' in meta.json())
  t.equal((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode, 200, 'JWKS is served from the ring')
})

t.test('Redis stops between login and refresh: 503, and no token is issued (T47)', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => { await redis.stop() })
  const store = await readyRedisStore(redis.url, 'fault:')
  t.teardown(async () => { await store.close() })
  const { app } = await buildOAuthApp(t, { store })
  await seedFixture(store)
  const tokens = await passwordTokens(app)
  await redis.stop()
  const res = await refresh(app, tokens.refresh_token!)
  t.equal(res.statusCode, 503)
  t.same(res.json(), UNAVAILABLE)
  t.notOk('access_token' in res.json())
})

