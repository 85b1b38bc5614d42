// Login abuse limits (issue 3 point 8; RFC 6749 §4.3.2 and §10.10: MUST protect against brute force).
// - per username: at most LOGIN_MAX_FAILURES failed password attempts per LOGIN_FAILURE_WINDOW;
// - per client IP: at most TOKEN_RATE_LIMIT requests per minute to /oauth/* (SECURITY.md T20, T29, T66).
// The IP is request.ip: the socket address unless Fastify's trustProxy names the proxy, so a client
// cannot change its key by sending X-Forwarded-For (SECURITY.md T30).
//
// Counting attempts: every password attempt increments the username counter BEFORE the password is
// checked, and a success resets it. So attempt k sees k-1 earlier failures, and once MAX failures are
// recorded every attempt is refused (429), even with the right password, until the window ends.
//
// Store down: the counters fall back to a per-instance in-memory fixed window with the same limits.
// Limits are then per instance (N instances allow up to N times the limit) but never absent:
// fail closed-ish, never fail open. The request itself will usually get 503 at its next store call.
import { createHash } from 'node:crypto'
import { GatewayError } from '../errors/gateway-error.js'
import { StoreUnavailableError, type CounterResult, type Store } from '../store/types.js'

export interface ThrottleLimits {
  LOGIN_MAX_FAILURES: number
  /** Seconds. */
  LOGIN_FAILURE_WINDOW: number
  /** Requests per IP per minute. */
  TOKEN_RATE_LIMIT: number
}

const IP_WINDOW_MS = 60_000
/** Bound on the fallback map; past it expired windows are swept. */
const LOCAL_SWEEP_AT = 10_000

export class LoginThrottle {
  readonly #store: Store
  readonly #limits: ThrottleLimits
  readonly #now: () => number
  readonly #local = new Map<string, { count: number, resetAt: number }>()

  constructor (store: Store, limits: ThrottleLimits, now: () => number = Date.now) {
    this.#store = store
    this.#limits = limits
    this.#now = now
  }

  /** Counts a request from `ip`; 429 rate_limited past TOKEN_RATE_LIMIT per minute. */
  async checkIp (ip: string): Promise<void> {
    const r = await this.#increment(`oauth:ip:${ip}`, IP_WINDOW_MS)
    if (r.count > this.#limits.TOKEN_RATE_LIMIT) throw tooMany('rate_limited', r.ttlMs, `ip over ${this.#limits.TOKEN_RATE_LIMIT}/min`)
  }

  /** Counts a password attempt for `username` (normalised by the caller); 429 login_throttled when over the limit. */
  async beginLogin (username: string): Promise<void> {
    const r = await this.#increment(loginKey(username), this.#limits.LOGIN_FAILURE_WINDOW * 1000)
    if (r.count > this.#limits.LOGIN_MAX_FAILURES) throw tooMany('login_throttled', r.ttlMs, 'too many failed logins for this username')
  }

  /** A correct password: the failures so far are forgiven. */
  async loginSucceeded (username: string): Promise<void> {
    const key = loginKey(username)
    this.#local.delete(key)
    await this.#store.resetCounter(key)
  }

  async #increment (key: string, windowMs: number): Promise<CounterResult> {
    try {
      return await this.#store.incrementCounter(key, windowMs)
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err
      return this.#incrementLocally(key, windowMs)
    }
  }

  #incrementLocally (key: string, windowMs: number): CounterResult {
    const now = this.#now()
    if (this.#local.size >= LOCAL_SWEEP_AT) {
      for (const [k, v] of this.#local) if (v.resetAt <= now) this.#local.delete(k)
    }
    let entry = this.#local.get(key)
    if (entry === undefined || entry.resetAt <= now) {
      entry = { count: 0, resetAt: now + windowMs }
      this.#local.set(key, entry)
    }
    entry.count += 1
    return { count: entry.count, ttlMs: entry.resetAt - now }
  }
}

/** Usernames are hashed into the key: bounded length, and no user-controlled text in Redis key names. */
function loginKey (username: string): string {
  return `oauth:login:${createHash('sha256').update(username).digest('base64url')}`
}

function tooMany (code: 'rate_limited' | 'login_throttled', ttlMs: number, detail: string): GatewayError {
  // RFC 9110 §10.2.3 / RFC 6585 §4: Retry-After in whole seconds, at least 1
  return new GatewayError(code, { detail, headers: { 'Retry-After': String(Math.max(1, Math.ceil(ttlMs / 1000))) } })
}
