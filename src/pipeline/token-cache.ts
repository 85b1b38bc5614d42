// A bounded cache of verified access tokens, so a token seen again skips only the signature and
// claims verification (an ES256 verify is ~80 µs of CPU: the largest cost of a proxied request).
// Nothing else is skipped: revocation, scopes and rate limits are decided per request as before.
//
// Rules (README "At the edge", caches):
// - key: the exact token string (a Map hashes the ~410-byte string in well under a microsecond;
//   a SHA-256 key measured twice as slow for no gain in exactness);
// - a hit is served only while `now < (exp + CLOCK_SKEW)`, with the current time checked on every
//   hit (RFC 7519 §4.1.4), and only while the key that verified it is still published under its kid
//   (same KeyObject: a retired or replaced key drops every token it signed);
// - failures are never cached: a bad token costs a full verification each time (the cheap checks
//   come first), and nothing a bad token does can make a good one refused;
// - at most `maxEntries` entries (FIFO with second chance: an entry hit since it was inserted is
//   moved to the back once instead of being evicted). About 1 KB per entry with the identity
//   (measured: 10,000 entries = 9.8 MB of heap), so the default 10,000 entries hold about 10 MB.
import type { KeyObject } from 'node:crypto'
import type { KeyRing } from '../oauth/keys.js'
import type { Identity } from './context.js'

export const DEFAULT_TOKEN_CACHE_SIZE = 10_000

interface Entry {
  identity: Identity
  kid: string
  publicKey: KeyObject
  /** Epoch ms from which the token counts as expired: (exp + CLOCK_SKEW) * 1000. */
  staleAtMs: number
  /** Hit since it was (re)inserted: gets a second chance at eviction. */
  hit: boolean
}

export interface TokenCacheOptions {
  maxEntries: number
  /** Seconds of leeway after exp, the same CLOCK_SKEW the verifier uses. */
  clockSkew: number
  /** Epoch milliseconds (tests). */
  now?: () => number
}

export class TokenCache {
  readonly maxEntries: number
  readonly #skewMs: number
  readonly #now: () => number
  readonly #entries = new Map<string, Entry>()
  /** Lookups answered from the cache / not (read by the metrics at scrape time: two integer increments). */
  hits = 0
  misses = 0

  constructor (opts: TokenCacheOptions) {
    if (!Number.isSafeInteger(opts.maxEntries) || opts.maxEntries < 1) throw new TypeError('maxEntries must be a positive integer')
    this.maxEntries = opts.maxEntries
    this.#skewMs = opts.clockSkew * 1000
    this.#now = opts.now ?? Date.now
  }

  get size (): number { return this.#entries.size }

  /** The identity of a token verified before, or undefined (then verify it in full). */
  get (token: string, ring: KeyRing): Identity | undefined {
    const entry = this.#entries.get(token)
    if (entry === undefined) {
      this.misses++
      return undefined
    }
    // RFC 7519 §4.1.4: never past exp (+ skew), whatever the cache holds; the full check then answers
    if (this.#now() >= entry.staleAtMs || ring.verificationKey(entry.kid)?.publicKey !== entry.publicKey) {
      this.#entries.delete(token)
      this.misses++
      return undefined
    }
    this.hits++
    entry.hit = true
    return entry.identity
  }

  /** Remembers a token that has just passed full verification with `publicKey` (published as `kid`). */
  set (token: string, identity: Identity, kid: string, publicKey: KeyObject): void {
    const staleAtMs = identity.expiresAt * 1000 + this.#skewMs
    if (staleAtMs <= this.#now()) return
    if (!this.#entries.has(token)) this.#makeRoom()
    this.#entries.set(token, { identity: Object.freeze(identity), kid, publicKey, staleAtMs, hit: false })
  }

  clear (): void { this.#entries.clear() }

  #makeRoom (): void {
    const entries = this.#entries
    // bounded work: at most a few second chances, then the oldest goes whatever it is
    for (let chances = 4; entries.size >= this.maxEntries; chances--) {
      const oldest = entries.keys().next().value as string
      const entry = entries.get(oldest)!
      entries.delete(oldest)
      if (entry.hit && chances > 0 && this.#now() < entry.staleAtMs) {
        entry.hit = false
        entries.set(oldest, entry)
      }
    }
  }
}

/**
 * The kid of a token's protected header; only called after the token passed full verification,
 * so the header is known to be a base64url JSON object with a string kid.
 */
export function kidOf (token: string): string | undefined {
  const dot = token.indexOf('.')
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as { kid?: unknown }
    return typeof header.kid === 'string' ? header.kid : undefined
  } catch {
    return undefined
  }
}

/** The cache TOKEN_CACHE_SIZE asks for (null when 0). */
export function tokenCacheFor (config: { TOKEN_CACHE_SIZE?: number, CLOCK_SKEW: number }): TokenCache | null {
  const size = config.TOKEN_CACHE_SIZE ?? DEFAULT_TOKEN_CACHE_SIZE
  return size > 0 ? new TokenCache({ maxEntries: size, clockSkew: config.CLOCK_SKEW }) : null
}
