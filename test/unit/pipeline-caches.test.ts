// The verified-token cache on its own (README "At the edge", caches): a hit never outlives
// exp + CLOCK_SKEW (RFC 7519 §4.1.4) or the key that verified it (same kid, same KeyObject), a token
// already stale is never stored, and the bound holds. Through the authenticate stage:
// test/unit/token-cache.test.ts.
import t from 'tap'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { KeyRing } from '../../src/oauth/keys.js'
import type { Identity } from '../../src/pipeline/context.js'
import { DEFAULT_TOKEN_CACHE_SIZE, kidOf, TokenCache, tokenCacheFor } from '../../src/pipeline/token-cache.js'

const SKEW = 30
const key = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
const K1 = key()
const K2 = key()

/** A ring publishing `published` (kid → public key). */
function ring (published: Map<string, KeyObject>): KeyRing {
  return { verificationKey: (kid: string) => { const k = published.get(kid); return k === undefined ? null : { kid, alg: 'ES256', publicKey: k } } } as unknown as KeyRing
}

function identity (expiresAt: number, subject = 'alice'): Identity {
  return { subject, subjectType: 'user', clientId: 'web', scopes: ['read'], tokenId: `j-${subject}`, sessionId: 's1', issuedAt: 0, expiresAt }
}

function setup (maxEntries = 10): { cache: TokenCache, setNow: (ms: number) => void, keys: Map<string, KeyObject>, ring: KeyRing } {
  let now = 1_000_000_000
  const cache = new TokenCache({ maxEntries, clockSkew: SKEW, now: () => now })
  const keys = new Map([['k1', K1]])
  return { cache, setNow: (ms) => { now = ms }, keys, ring: ring(keys) }
}

const EXP = 1_000_000 // seconds: stale at (EXP + SKEW) * 1000 ms

t.test('RFC 7519 §4.1.4: a token already at exp + CLOCK_SKEW is never stored', async (t) => {
  const s = setup()
  s.setNow((EXP + SKEW) * 1000)
  s.cache.set('stale', identity(EXP), 'k1', K1)
  t.equal(s.cache.size, 0, 'stale at this very millisecond')
  s.setNow((EXP + SKEW) * 1000 - 1)
  s.cache.set('fresh', identity(EXP), 'k1', K1)
  t.equal(s.cache.size, 1, 'one millisecond left')
  t.equal(s.cache.get('fresh', s.ring)?.subject, 'alice')
  t.ok(Object.isFrozen(s.cache.get('fresh', s.ring)), 'the cached identity cannot be changed by a stage')
})

t.test('a hit needs the very key that verified it, still published under its kid', async (t) => {
  const s = setup()
  s.setNow(0)
  s.cache.set('tok', identity(EXP), 'k1', K1)
  t.not(s.cache.get('tok', s.ring), undefined)
  s.keys.set('k1', K2)
  t.equal(s.cache.get('tok', s.ring), undefined, 'another key published under the same kid: dropped')
  s.keys.set('k1', K1)
  t.equal(s.cache.get('tok', s.ring), undefined, 'and gone for good (verified again on the next request)')
  t.equal(s.cache.size, 0)
  s.cache.set('tok2', identity(EXP), 'k2', K1)
  t.equal(s.cache.get('tok2', s.ring), undefined, 'a kid the ring does not publish: dropped')
  t.equal(s.cache.get('never-seen', s.ring), undefined)
})

t.test('storing a token again never evicts another one', async (t) => {
  const s = setup(2)
  s.setNow(0)
  s.cache.set('a', identity(EXP, 'a'), 'k1', K1)
  s.cache.set('b', identity(EXP, 'b'), 'k1', K1)
  s.cache.set('b', identity(EXP, 'b'), 'k1', K1)
  t.equal(s.cache.size, 2)
  t.equal(s.cache.get('a', s.ring)?.subject, 'a', 'still there')
})

t.test('eviction: a hit entry gets a second chance unless it is stale; at most four of them per insert', async (t) => {
  const s = setup(3)
  s.setNow(0)
  s.cache.set('short', identity(10, 'short'), 'k1', K1) // stale at 40 s
  s.cache.set('b', identity(EXP, 'b'), 'k1', K1)
  s.cache.set('c', identity(EXP, 'c'), 'k1', K1)
  s.cache.get('short', s.ring) // a hit while fresh
  s.setNow(50_000) // 'short' is stale now
  s.cache.set('d', identity(EXP, 'd'), 'k1', K1)
  s.setNow(0)
  t.equal(s.cache.size, 3)
  t.not(s.cache.get('b', s.ring), undefined, 'the stale entry went, though it had been hit: no second chance for it')

  const all = setup(5)
  all.setNow(0)
  for (const n of ['a', 'b', 'c', 'd', 'e']) all.cache.set(n, identity(EXP, n), 'k1', K1)
  for (const n of ['a', 'b', 'c', 'd', 'e']) all.cache.get(n, all.ring)
  all.cache.set('f', identity(EXP, 'f'), 'k1', K1)
  t.equal(all.cache.size, 5)
  t.equal(all.cache.get('e', all.ring), undefined, 'four second chances, then the oldest left goes whatever it is')
  for (const n of ['a', 'b', 'c', 'd', 'f']) t.not(all.cache.get(n, all.ring), undefined, n)
})

t.test('TOKEN_CACHE_SIZE: default 10 000, 0 is off, a size must be a positive integer', async (t) => {
  t.equal(DEFAULT_TOKEN_CACHE_SIZE, 10_000)
  t.equal(tokenCacheFor({ CLOCK_SKEW: 30 })?.maxEntries, 10_000)
  t.equal(tokenCacheFor({ TOKEN_CACHE_SIZE: 1, CLOCK_SKEW: 30 })?.maxEntries, 1)
  t.equal(new TokenCache({ maxEntries: 1, clockSkew: 0 }).maxEntries, 1)
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) t.throws(() => new TokenCache({ maxEntries: bad, clockSkew: 0 }), TypeError, String(bad))
})

t.test('TOKEN_CACHE_SIZE with CLOCK_SKEW: the cache uses the verifier\'s skew', async (t) => {
  let now = 0
  const cache = tokenCacheFor({ TOKEN_CACHE_SIZE: 5, CLOCK_SKEW: 7 })!
  t.ok(cache)
  const c = new TokenCache({ maxEntries: 5, clockSkew: 7, now: () => now })
  c.set('x', identity(100), 'k1', K1)
  now = 107_000 - 1
  t.not(c.get('x', ring(new Map([['k1', K1]]))), undefined)
  now = 107_000
  t.equal(c.get('x', ring(new Map([['k1', K1]]))), undefined)
})

t.test('kidOf reads the protected header only, and only a string kid', async (t) => {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
  t.equal(kidOf(`${b64({ alg: 'ES256', kid: 'k-1' })}.${b64({ kid: 'payload' })}.sig`), 'k-1')
  t.equal(kidOf(`${b64({ alg: 'ES256', kid: 5 })}.e30.sig`), undefined)
  t.equal(kidOf(`${b64({ alg: 'ES256' })}.${b64({ kid: 'payload' })}.sig`), undefined, 'never the payload\'s')
  t.equal(kidOf('not-json.e30.sig'), undefined)
  t.equal(kidOf(`${b64(null)}.e30.sig`), undefined)
})
