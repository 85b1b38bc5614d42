// Starting without Redis: a real gateway process whose Redis is absent (F01, F05) or may evict keys
// (E04), then KeyRing.loadLazy, the piece that lets it start.
import t from 'tap'
import { spawn } from 'node:child_process'
import { hashSecret } from '../../src/oauth/passwords.js'
import { RedisStore } from '../../src/store/index.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { writeRoutes, startTestGateway } from '../helpers/gateway.js'
import { freePort, startRedis } from '../helpers/redis-server.js'
import { spawnGateway, BIN } from '../helpers/spawn-gateway.js'
import { nodeChild } from '../helpers/node-child.js'
import { toGatewayError } from '../../src/errors/handler.js'
import { KeyRing } from '../../src/oauth/keys.js'
import { MemoryStore } from '../../src/store/memory/index.js'
import { StoreUnavailableError, type Store } from '../../src/store/types.js'

// Catalogue F01 + F05: Redis absent at start. A real gateway process whose REDIS_URL points at a
// port nothing listens on must start and listen (/healthz 200, /readyz 503), answer protected
// routes and the token endpoint 503 + Retry-After (never 500, never forwarded), keep serving
// `auth: none` routes, and serve fully once a redis-server appears on that port, without a restart.

const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'The token store is unavailable; retry later' }
// JWT-shaped, never verified: without a key set no token can be judged
const SOME_TOKEN = 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6IngifQ.eyJzdWIiOiJ4In0.c2ln'

const echo = await startEchoUpstream()
t.teardown(() => echo.close())
const redisPort = await freePort()
const routes = writeRoutes(`
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /api/*
    upstream: echo
    scopes: [read]
  - path: /public/*
    upstream: echo
    auth: none
`)
const gw = await spawnGateway(['serve'], {
  ROUTES_FILE: routes, REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_TIMEOUT: '1', BCRYPT_COST: '4', LOG_LEVEL: 'info'
})
t.teardown(() => { if (gw.child.exitCode === null) gw.child.kill('SIGKILL') })
const pid = gw.child.pid

interface Answer { status: number; body: unknown; headers: Headers; ms: number }
async function call (path: string, init: RequestInit = {}): Promise<Answer> {
  const started = Date.now()
  const res = await fetch(gw.url + path, init)
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch { /* not JSON */ }
  return { status: res.status, body, headers: res.headers, ms: Date.now() - started }
}
const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } })
const tokenRequest = (): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from('svc:svc-secret').toString('base64') },
  body: 'grant_type=client_credentials&scope=read'
})

t.test('F01: started without Redis, the gateway listens, reports not ready and fails closed', async (t) => {
  t.match(gw.output(), /"ready":false/, 'the listening line says the key set is not loaded')
  const health = await call('/healthz')
  t.equal(health.status, 200, '/healthz: the process is up')
  t.same(health.body, { status: 'ok' })

  const ready = await call('/readyz')
  t.equal(ready.status, 503, '/readyz 503')
  t.equal(ready.headers.get('content-type'), 'application/json; charset=utf-8')
  t.match(ready.body, { error: 'temporarily_unavailable' })
  t.ok(ready.headers.get('retry-after'), '/readyz carries Retry-After')

  const before = echo.seen.length
  // baseline: an answer that needs no Redis, from the same process on the same machine right now
  const baseline = (await call('/healthz')).ms
  const protectedRoute = await call('/api/orders', bearer(SOME_TOKEN))
  t.equal(protectedRoute.status, 503, 'a token on a protected route cannot be judged: 503, not 401, not 500')
  t.same(protectedRoute.body, UNAVAILABLE)
  t.equal(protectedRoute.headers.get('retry-after'), '2')
  t.equal(protectedRoute.headers.get('www-authenticate'), null, 'a server condition: no challenge')
  t.ok(protectedRoute.ms < 1000 + 4 * baseline, `answered in ${protectedRoute.ms} ms (within REDIS_TIMEOUT of the ${baseline} ms baseline)`)

  const noToken = await call('/api/orders')
  t.equal(noToken.status, 401, 'no token at all is still a plain 401 (nothing to judge)')
  t.equal(echo.seen.length, before, 'nothing reached the upstream')

  const token = await call('/oauth/token', tokenRequest())
  t.equal(token.status, 503, '/oauth/token 503')
  t.same(token.body, UNAVAILABLE)
  t.ok(token.headers.get('retry-after'), 'with Retry-After')
  t.ok(token.ms < 2000 + 4 * baseline, `answered in ${token.ms} ms (within two REDIS_TIMEOUTs of the ${baseline} ms baseline)`)

  const jwks = await call('/.well-known/jwks.json')
  t.equal(jwks.status, 503, 'JWKS: no key set to publish yet: 503, never 500')
  t.same(jwks.body, UNAVAILABLE)

  const open = await call('/public/catalog')
  t.equal(open.status, 200, 'auth: none is served')
  t.equal(echo.seen.length, before + 1, 'and forwarded')
  t.notMatch(gw.output(), /"level":50|Unhandled|unhandled/, 'no error-level log line, no unhandled rejection')
})

t.test('F05: Redis appears on that port; the same process serves again without a restart', async (t) => {
  const redis = await startRedis({ port: redisPort })
  t.teardown(() => redis.stop())
  const appeared = Date.now()
  const seed = new RedisStore({ url: redis.url, timeoutMs: 1000 })
  t.teardown(() => seed.close())
  t.ok(await seed.ready(5000), 'seed connection ready')
  await seed.putClient({ id: 'svc', secretHash: await hashSecret('svc-secret', 4), grants: ['client_credentials'], scopes: ['read'], disabled: false, createdAt: 0 })

  let ready: Answer
  do {
    ready = await call('/readyz')
    if (ready.status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
  } while (ready.status !== 200 && Date.now() - appeared < 30_000) // a hang guard: recovery, not its speed, is the property
  const recovery = Date.now() - appeared
  t.equal(ready.status, 200, `/readyz 200 again after ${recovery} ms`)
  t.match(ready.body, { status: 'ready', store: 'redis' })

  const token = await call('/oauth/token', tokenRequest())
  t.equal(token.status, 200, 'a token is issued')
  const accessToken = (token.body as { access_token: string }).access_token
  const before = echo.seen.length
  const served = await call('/api/orders', bearer(accessToken))
  t.equal(served.status, 200, 'the protected route serves')
  t.equal(echo.seen.length, before + 1)
  t.equal(echo.seen.at(-1)!.headers['x-auth-subject'], 'client:svc', 'with the identity from the token')
  t.equal(gw.child.pid, pid, 'same process')
  t.equal(gw.child.exitCode, null, 'still running')
  // the child's log reaches us through a pipe, possibly after the answers above: wait for the line
  // (a hang guard only), then assert it
  for (const until = Date.now() + 10_000; !/signing keys loaded/.test(gw.output()) && Date.now() < until;) {
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  t.match(gw.output(), /signing keys loaded/, 'the recovery is logged')

  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null }, 'and it still shuts down cleanly')
})

// SECURITY.md E04: a Redis whose maxmemory-policy may evict keys would drop revocation entries
// silently and bring revoked tokens back. `portcullis serve` refuses to start on one, with one line
// naming the reason (exit 1), also when CONFIG is disabled and only INFO tells the policy; a
// `noeviction` Redis starts as usual.

const evictingRoutes = writeRoutes(`
version: 1
upstreams:
  echo: { url: http://127.0.0.1:9, timeout: 1s }
routes:
  - path: /api/*
    upstream: echo
`)

/** Runs `serve` to its exit (it must not start: if it listens, it is stopped and the test fails). */
async function serveUntilExit (redisUrl: string): Promise<{ code: number | null, stderr: string, stdout: string }> {
  const child = spawn(...nodeChild([BIN, 'serve']), {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(await freePort()), ADMIN_PORT: '0', ROUTES_FILE: evictingRoutes, REDIS_URL: redisUrl, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString()
    if (/portcullis listening/.test(stdout)) child.kill('SIGKILL')
  })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000) // guards a hang only
  const code = await new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c) }) })
  clearTimeout(timer)
  return { code, stderr, stdout }
}

for (const [policy, args, via] of [
  ['allkeys-lru', [], 'CONFIG GET'],
  ['volatile-ttl', ['--rename-command', 'CONFIG', ''], 'INFO memory (CONFIG disabled)']
] as const) {
  t.test(`maxmemory-policy ${policy} is refused at start, read via ${via}`, async (t) => {
    const redis = await startRedis({ args: ['--maxmemory-policy', policy, ...args] })
    t.teardown(() => redis.stop())
    const run = await serveUntilExit(redis.url)
    t.equal(run.code, 1, 'exit 1')
    const lines = run.stderr.trim().split('\n')
    t.equal(lines.length, 1, 'one line')
    t.match(lines[0], new RegExp(`^portcullis: Redis maxmemory-policy is ${policy}: .*set maxmemory-policy noeviction$`))
    t.notMatch(run.stdout, /portcullis listening/, 'never listened')
  })
}

t.test('maxmemory-policy noeviction starts', async (t) => {
  const redis = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] })
  t.teardown(() => redis.stop())
  const gw = await spawnGateway(['serve'], { ROUTES_FILE: evictingRoutes, REDIS_URL: redis.url, LOG_LEVEL: 'info' })
  t.teardown(() => { if (gw.child.exitCode === null) gw.child.kill('SIGKILL') })
  const ready = await fetch(`${gw.url}/readyz`)
  t.equal(ready.status, 200)
  gw.child.kill('SIGTERM')
  t.match(await gw.exited, { code: 0 })
})

// KeyRing.loadLazy, the piece that lets a gateway start without Redis (catalogue F01, F05): an
// empty ring that is "not ready" (StoreUnavailableError, so 503 upstream of it, never 401 or 500)
// until the store answers, then loads (creating the first key if needed) by itself.

const quiet = { info () {}, warn () {}, error () {} }

/** A memory store that can be switched off: every call rejects with StoreUnavailableError while down. */
function switchable (): { store: Store; up: () => void; calls: () => number } {
  const inner = new MemoryStore()
  let down = true
  let calls = 0
  const store = new Proxy(inner, {
    get (target, prop) {
      const value = (target as unknown as Record<string | symbol, unknown>)[prop]
      if (typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        calls++
        if (down) throw new StoreUnavailableError('down')
        return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
      }
    }
  }) as Store
  return { store, up: () => { down = false }, calls: () => calls }
}

t.test('not ready while the store is down; loads by itself once it answers', async (t) => {
  const logs: string[] = []
  const logger = { info: (_o: object, m?: string) => { logs.push(`info ${m}`) }, warn: (_o: object, m?: string) => { logs.push(`warn ${m}`) }, error () {} }
  const s = switchable()
  const { ring, settled } = KeyRing.loadLazy(s.store, { alg: 'ES256', logger, refreshIntervalMs: 0 })
  t.teardown(() => { ring.close() })
  t.equal(await settled, false, 'the first attempt failed')
  t.equal(ring.ready, false)
  t.throws(() => ring.signingKey(), StoreUnavailableError, 'signingKey: StoreUnavailableError (→ 503), not a plain Error (→ 500)')
  await t.rejects(ring.ensureReady(), StoreUnavailableError)
  t.same(ring.jwks(), [], 'nothing published')
  t.equal(ring.verificationKey('any'), null)
  await new Promise((resolve) => setTimeout(resolve, 400))
  const attempts = s.calls()
  t.ok(attempts >= 3 && attempts <= 8, `retries with backoff: ${attempts} store calls in ~0.4 s`)
  t.equal(logs.filter((l) => l.startsWith('warn')).length, 1, 'the failure is logged once, not per retry')

  s.up()
  const deadline = Date.now() + 3000
  while (!ring.ready && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(ring.ready, true, 'loaded in the background once the store answers')
  t.equal(ring.signingKey().alg, 'ES256', 'the first key was created')
  t.equal(ring.jwks().length, 1)
  t.ok(logs.some((l) => l.includes('signing keys loaded')), 'the recovery is logged')
})

t.test('ensureReady loads at once when the store is back (no wait for the retry timer)', async (t) => {
  const s = switchable()
  const { ring, settled } = KeyRing.loadLazy(s.store, { alg: 'EdDSA', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { ring.close() })
  t.equal(await settled, false)
  s.up()
  await ring.ensureReady()
  t.equal(ring.ready, true)
  t.equal(ring.signingKey().alg, 'EdDSA')
})

t.test('a healthy store: ready after the first attempt; close() stops the retry loop', async (t) => {
  const { ring, settled } = KeyRing.loadLazy(new MemoryStore(), { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  t.equal(await settled, true)
  t.equal(ring.ready, true)
  ring.close()

  const s = switchable()
  const lazy = KeyRing.loadLazy(s.store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  await lazy.settled
  lazy.ring.close()
  const calls = s.calls()
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(s.calls(), calls, 'no store call after close()')
})

t.test('found by the F01 test: a StoreUnavailableError escaping an endpoint was a 500; it is a 503 + Retry-After', async (t) => {
  const ge = toGatewayError(new StoreUnavailableError('redis listKeys failed'))
  t.equal(ge.status, 503)
  t.equal(ge.code, 'store_unavailable')
  t.equal(ge.headers['retry-after'], '1')
})

t.test('in process, a gateway on an absent Redis with a lazy ring: every key-dependent endpoint 503, public served', async (t) => {
  const echo = await startEchoUpstream()
  t.teardown(() => echo.close())
  const store = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}`, timeoutMs: 300 })
  t.teardown(() => store.close())
  const { ring, settled } = KeyRing.loadLazy(store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { ring.close() })
  t.equal(await settled, false)
  const gw = await startTestGateway(t, {
    store,
    keys: ring,
    routes: `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /api/*
    upstream: echo
  - path: /public/*
    upstream: echo
    auth: none
`
  })
  const get = async (path: string, init: RequestInit = {}): Promise<[number, string | null]> => {
    const res = await fetch(gw.url + path, init)
    await res.arrayBuffer()
    return [res.status, res.headers.get('retry-after')]
  }
  t.same(await get('/.well-known/jwks.json'), [503, '1'], 'JWKS: 503 (was a 500: refresh() rejects with StoreUnavailableError)')
  t.same(await get('/readyz'), [503, '1'], '/readyz 503')
  t.same(await get('/api/x', { headers: { authorization: 'Bearer a.b.c' } }), [503, '2'], 'a token cannot be judged: 503')
  const token = await get('/oauth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' })
  t.equal(token[0], 503, '/oauth/token 503')
  t.same(await get('/public/x'), [200, null], 'auth: none served')
  t.equal(echo.seen.length, 1, 'only the public request was forwarded')
})
