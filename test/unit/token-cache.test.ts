// Lever 1 of issue 6: a bounded cache of verified tokens that skips only the signature check.
// It must never change a decision: exp (+ CLOCK_SKEW) is checked on every hit with the current
// time (RFC 7519 §4.1.4), a retired or replaced key drops its tokens, failures are never cached.
import t, { type Test } from 'tap'
import { newJti, signAccessToken, type AccessTokenClaims } from '../../src/oauth/jwt.js'
import { KeyRing, rotateKey } from '../../src/oauth/keys.js'
import { authenticateStage } from '../../src/pipeline/authenticate.js'
import type { PipelineContext } from '../../src/pipeline/context.js'
import { TokenCache, kidOf, tokenCacheFor } from '../../src/pipeline/token-cache.js'
import { MemoryStore } from '../../src/store/index.js'
import { GatewayError } from '../../src/errors/gateway-error.js'

const quiet = { info () {}, warn () {}, error () {} }
const START_MS = 1_800_000_000_000
const SKEW = 30

async function setup (t: Test, opts: { size?: number } = {}) {
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

type Setup = Awaited<ReturnType<typeof setup>>

t.test('a verified token is served from the cache with the same identity', async (t) => {
  const s: Setup = await setup(t)
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
  const s: Setup = await setup(t)
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
  const s: Setup = await setup(t)
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
  const s: Setup = await setup(t)
  const good = s.mint()
  const parts = good.split('.')
  const forged = `${parts[0]}.${Buffer.from(JSON.stringify({ sub: 'mallory' })).toString('base64url')}.${parts[2]}`
  for (let i = 0; i < 3; i++) t.equal((await s.run(forged)).outcome, 'token_invalid:bad_signature')
  t.equal(s.cache.size, 0)
  t.equal((await s.run(good)).outcome, 'ok')
  t.equal((await s.run(good)).outcome, 'ok')
})

t.test('the cache never holds more than its cap; a hit entry gets a second chance', async (t) => {
  const s: Setup = await setup(t, { size: 3 })
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
