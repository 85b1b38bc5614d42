// KeyRing, rotateKey, listKeyInfo (issue 3 point 4) against the memory store and a real Redis.
import t from 'tap'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { KeyRing, listKeyInfo, type KeyLogger, rotateKey, UNKNOWN_KID_REFETCH_MS } from '../../src/oauth/keys.js'
import { MemoryStore, RedisStore, type KeyRecord, type SigningAlg, type Store } from '../../src/store/index.js'
import { startRedis } from '../helpers/redis-server.js'

const quiet = { info () {}, warn () {}, error () {} }
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
const T0 = 1_800_000_000_000 // fixed clock, epoch ms

function recordingLogger (): { logger: KeyLogger, warnings: string[] } {
  const warnings: string[] = []
  return { logger: { info () {}, warn (_o: object, msg?: string) { warnings.push(msg ?? '') }, error () {} }, warnings }
}

for (const alg of ['ES256', 'EdDSA', 'RS256'] as SigningAlg[]) {
  t.test(`RFC 7517 §4 / RFC 7638: ${alg} JWKS members are public only, kid is the thumbprint`, async (t) => {
    const ring = await KeyRing.load(new MemoryStore(), { alg, logger: quiet, refreshIntervalMs: 0 })
    t.teardown(() => { ring.close() })
    const [jwk, ...rest] = ring.jwks()
    t.equal(rest.length, 0, 'one key')
    if (jwk === undefined) throw new Error('no key')
    t.match(jwk, { alg, use: 'sig', kid: String })
    for (const m of PRIVATE_MEMBERS) t.notOk(m in jwk, `no private member ${m}`)
    t.equal(jwk.kid, await calculateJwkThumbprint(jwk as JWK, 'sha256'), 'kid = RFC 7638 SHA-256 thumbprint')
    t.equal(ring.signingKey().kid, jwk.kid)
    t.equal(ring.signingKey().privateKey.type, 'private')
    t.equal(ring.verificationKey(jwk.kid)?.publicKey.type, 'public')
  })
}

t.test('first load creates one key; a later load reuses it; dev mode warns about an ephemeral key', async (t) => {
  const store = new MemoryStore()
  const { logger, warnings } = recordingLogger()
  const a = await KeyRing.load(store, { alg: 'ES256', logger, refreshIntervalMs: 0 })
  const b = await KeyRing.load(store, { alg: 'EdDSA', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { a.close(); b.close() })
  t.equal((await store.listKeys()).length, 1)
  t.equal(b.signingKey().kid, a.signingKey().kid, 'second instance signs with the first key')
  t.equal(b.signingKey().alg, 'ES256', 'an existing key keeps its alg')
  t.match(warnings.join('\n'), /ephemeral/i)
})

t.test('verificationKey of an unknown kid is null; refetch at most once per 5 s (no storm)', async (t) => {
  let now = T0
  const store = new MemoryStore()
  let reads = 0
  const counting = new Proxy(store, {
    get: (target, prop) => prop === 'listKeys'
      ? async () => { reads++; return await target.listKeys() }
      : (target as unknown as Record<string | symbol, unknown>)[prop] instanceof Function
          ? ((target as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[prop] as (...a: unknown[]) => unknown).bind(target)
          : (target as unknown as Record<string | symbol, unknown>)[prop]
  }) as Store
  const ring = await KeyRing.load(counting, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0, now: () => now })
  t.teardown(() => { ring.close() })
  const base = reads
  t.equal(ring.verificationKey('nope'), null)
  t.equal(ring.verificationKey('__proto__'), null)
  const results = await Promise.all(Array.from({ length: 50 }, async () => await ring.refreshForKid('nope')))
  t.same(new Set(results), new Set([false]))
  t.equal(reads - base, 1, '50 lookups of an unknown kid → one store read')
  now += UNKNOWN_KID_REFETCH_MS - 1
  await ring.refreshForKid('nope')
  t.equal(reads - base, 1, 'still within 5 s: no read')
  now += 1
  await ring.refreshForKid('nope')
  t.equal(reads - base, 2, 'after 5 s: one more read')
})

t.test('a corrupt key record is skipped, the others still work', async (t) => {
  const store = new MemoryStore()
  const ring = await KeyRing.load(store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { ring.close() })
  const good = ring.signingKey().kid
  await store.addKey({ kid: 'bad', alg: 'ES256', privateKeyPem: 'x', publicKeyPem: 'not a pem', createdAt: 1, retireAt: null })
  await ring.refresh()
  t.equal(ring.signingKey().kid, good)
  t.equal(ring.verificationKey('bad'), null)
})

t.test('refresh keeps the current set when the store is down', async (t) => {
  const store = new MemoryStore()
  const ring = await KeyRing.load(store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  const kid = ring.signingKey().kid
  await store.close()
  await t.rejects(ring.refresh())
  t.equal(await ring.refreshForKid('other'), false, 'refreshForKid never rejects')
  t.equal(ring.signingKey().kid, kid)
  ring.close()
})

t.test('keys rotate: new key signs at once, old one stays published until retireAt, then is pruned', async (t) => {
  let now = T0
  const clock = (): number => now
  const store = new MemoryStore({ now: clock })
  const ring = await KeyRing.load(store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0, now: clock })
  t.teardown(() => { ring.close() })
  const oldKid = ring.signingKey().kid
  const added = await rotateKey(store, 'EdDSA', { maxTokenLifetime: 930, now: clock })
  t.notOk('privateKeyPem' in (await listKeyInfo(store))[0]!, 'listKeyInfo has no key material')
  await ring.refresh()
  t.equal(ring.signingKey().kid, added.kid, 'the new key signs')
  t.equal(ring.signingKey().alg, 'EdDSA')
  t.same(ring.jwks().map((k) => k.kid), [added.kid, oldKid], 'JWKS lists both, newest first')
  t.ok(ring.verificationKey(oldKid), 'old key still verifies')

  const info = await listKeyInfo(store)
  const old = info.find((k) => k.kid === oldKid)
  t.equal(old?.retireAt, Math.floor(T0 / 1000) + 930 + 30, 'retireAt = now + max token lifetime + one refresh interval')
  t.same(info.map((k) => [k.kid, k.current]), [[oldKid, false], [added.kid, true]])

  now += 961_000 // past retireAt
  t.equal(ring.verificationKey(oldKid), null, 'past retireAt: no longer published')
  t.same(ring.jwks().map((k) => k.kid), [added.kid])
  const third = await rotateKey(store, 'ES256', { maxTokenLifetime: 930, now: clock })
  const kids = (await store.listKeys()).map((k: KeyRecord) => k.kid)
  t.notOk(kids.includes(oldKid), 'keys past retireAt are pruned on the next rotation')
  t.ok(kids.includes(added.kid) && kids.includes(third.kid))
})

t.test('Redis: concurrent first loads agree on one key (race-free creation)', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => { await redis.stop() })
  const stores = Array.from({ length: 6 }, () => new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'keys-race:' }))
  t.teardown(async () => { for (const s of stores) await s.close() })
  for (const s of stores) t.ok(await s.ready(3000), 'redis ready')
  const { logger, warnings } = recordingLogger()
  const rings = await Promise.all(stores.map(async (s) => await KeyRing.load(s, { alg: 'ES256', logger, refreshIntervalMs: 0 })))
  t.teardown(() => { for (const r of rings) r.close() })
  t.equal(new Set(rings.map((r) => r.signingKey().kid)).size, 1, 'every instance signs with the same kid')
  t.equal((await stores[0]!.listKeys()).length, 1, 'exactly one key stored')
  t.equal(warnings.length, 0, 'no dev-mode warning with Redis')
})
