// The verified-token cache (README "At the edge", caches): on its own, then through the authenticate stage.
import t, { type Test } from 'tap'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { Identity, PipelineContext } from '../../src/pipeline/context.js'
import { DEFAULT_TOKEN_CACHE_SIZE, kidOf, TokenCache, tokenCacheFor } from '../../src/pipeline/token-cache.js'
import { newJti, signAccessToken, type AccessTokenClaims } from '../../src/oauth/jwt.js'
import { KeyRing, rotateKey } from '../../src/oauth/keys.js'
import { authenticateStage } from '../../src/pipeline/authenticate.js'
import { MemoryStore } from '../../src/store/index.js'
import { GatewayError } from '../../src/errors/gateway-error.js'

// The verified-token cache on its own (README "At the edge", caches): a hit never outlives
// exp + CLOCK_SKEW (RFC 7519 §4.1.4) or the key that verified it (same kid, same KeyObject), a token
// already stale is never stored, and the bound holds. Through the authenticate stage: the second half of this file.

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

// Lever 1 of issue 6: a bounded cache of verified tokens that skips only the signature check.
// It must never change a decision: exp (+ CLOCK_SKEW) is checked on every hit with the current
// time (RFC 7519 §4.1.4), a retired or replaced key drops its tokens, failures are never cached.

const quiet = { info () {}, warn () {}, error () {} }
const START_MS = 1_800_000_000_000

async function setupStage (t: Test, opts: { size?: number } = {}) {
  let now = START_MS
  const clock = (): number => now
  const store = new MemoryStore({ now: clock })
  const keys = await KeyRing.load(store, { alg: 'ES256', logger: quiet, now: clock, refreshIntervalMs: 0 })
  t.teardown(() => { keys.close() })
  const cache = new TokenCache({ maxEntries: opts.size ?? 100, clockSkew: SKEW, now: clock })
  const stage = authenticateStage({ keys, issuer: 'https://as.example', audience: 'portcullis', clockSkew: SKEW, now: clock, tokenCache: cache })
  const mint = (over: Partial<AccessTokenClaims> = {}): string => signAccessToken(keys, {
    iss: 'https://as.example', sub: 'alice', aud: 'portcullis', exp: START_MS / 1000 + 900, iat: START_MS / 1000,
    jti: newJti(), client_id: 'web', scope: 'read', sid: 's1', ...over
  })
  /** Runs the stage: 'ok' and the identity, or the refusal's reason code and detail. */
  const run = async (token: string): Promise<{ outcome: string, identity?: PipelineContext['identity'] }> => {
    const ctx = {
      request: { headers: { authorization: `Bearer ${token}` }, raw: { rawHeaders: ['Authorization', `Bearer ${token}`] } },
      route: { auth: 'required' }, query: '', identity: null
    } as unknown as PipelineContext
    try {
      await stage(ctx)
      return { outcome: 'ok', identity: ctx.identity }
    } catch (err) {
      return { outcome: err instanceof GatewayError ? `${err.code}:${String((err as { detail?: string }).detail)}` : String(err) }
    }
  }
  return { store, keys, cache, run, mint, advance: (ms: number) => { now += ms }, setNow: (ms: number) => { now = ms } }
}

type Setup = Awaited<ReturnType<typeof setupStage>>

t.test('a verified token is served from the cache with the same identity', async (t) => {
  const s: Setup = await setupStage(t)
  const token = s.mint()
  const first = await s.run(token)
  t.equal(first.outcome, 'ok')
  t.equal(s.cache.size, 1, 'remembered after the full verification')
  const again = await s.run(token)
  t.equal(again.outcome, 'ok')
  t.equal(again.identity, first.identity, 'the same (frozen) identity object: no verification ran')
  t.ok(Object.isFrozen(again.identity))
})

t.test('RFC 7519 §4.1.4: a cached token stops at exp + CLOCK_SKEW, checked on every hit', async (t) => {
  const s: Setup = await setupStage(t)
  const exp = START_MS / 1000 + 60
  const token = s.mint({ exp })
  t.equal((await s.run(token)).outcome, 'ok')
  s.setNow((exp + SKEW) * 1000 - 1)
  t.equal((await s.run(token)).outcome, 'ok', '1 ms before exp + skew')
  s.setNow((exp + SKEW) * 1000)
  t.equal((await s.run(token)).outcome, 'token_expired:expired', 'at exp + skew: refused exactly like without a cache')
  t.equal(s.cache.size, 0, 'and dropped')
})

t.test('a token whose key is retired or removed is no longer served from the cache', async (t) => {
  const s: Setup = await setupStage(t)
  const token = s.mint()
  t.equal((await s.run(token)).outcome, 'ok')
  const oldKid = kidOf(token)!
  await rotateKey(s.store, 'ES256', { maxTokenLifetime: 0, now: () => START_MS })
  await s.store.removeKey(oldKid)
  await s.keys.refresh()
  t.equal(s.keys.verificationKey(oldKid), null, 'the old key is gone from the ring')
  t.equal((await s.run(token)).outcome, 'token_invalid:unknown_kid', 'refused at once, as without a cache')
})

t.test('failures are never cached, and a bad token cannot make a good one fail', async (t) => {
  const s: Setup = await setupStage(t)
  const good = s.mint()
  const parts = good.split('.')
  const forged = `${parts[0]}.${Buffer.from(JSON.stringify({ sub: 'mallory' })).toString('base64url')}.${parts[2]}`
  for (let i = 0; i < 3; i++) t.equal((await s.run(forged)).outcome, 'token_invalid:bad_signature')
  t.equal(s.cache.size, 0)
  t.equal((await s.run(good)).outcome, 'ok')
  t.equal((await s.run(good)).outcome, 'ok')
})

t.test('the cache never holds more than its cap; a hit entry gets a second chance', async (t) => {
  const s: Setup = await setupStage(t, { size: 3 })
  const tokens = Array.from({ length: 4 }, () => s.mint())
  for (const tok of tokens.slice(0, 3)) await s.run(tok)
  await s.run(tokens[0]!) // a hit: tokens[0] survives the next eviction
  await s.run(tokens[3]!)
  t.equal(s.cache.size, 3)
  t.not(s.cache.get(tokens[0]!, s.keys), undefined, 'the entry hit since insertion stayed')
  t.equal(s.cache.get(tokens[1]!, s.keys), undefined, 'the oldest unused entry went')
  for (let i = 0; i < 50; i++) await s.run(s.mint())
  t.equal(s.cache.size, 3, 'bounded')
})

t.test('TOKEN_CACHE_SIZE: 0 disables the cache; misuse is a TypeError', async (t) => {
  t.equal(tokenCacheFor({ TOKEN_CACHE_SIZE: 0, CLOCK_SKEW: 30 }), null)
  t.equal(tokenCacheFor({ TOKEN_CACHE_SIZE: 5, CLOCK_SKEW: 30 })?.maxEntries, 5)
  t.throws(() => new TokenCache({ maxEntries: 0, clockSkew: 0 }), TypeError)
})
