// KeyRing.loadLazy, the piece that lets a gateway start without Redis (catalogue F01, F05): an
// empty ring that is "not ready" (StoreUnavailableError, so 503 upstream of it, never 401 or 500)
// until the store answers, then loads (creating the first key if needed) by itself.
import t from 'tap'
import { toGatewayError } from '../../src/errors/handler.js'
import { KeyRing } from '../../src/oauth/keys.js'
import { MemoryStore } from '../../src/store/memory/index.js'
import { RedisStore } from '../../src/store/index.js'
import { StoreUnavailableError, type Store } from '../../src/store/types.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { freePort } from '../helpers/redis-server.js'

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
