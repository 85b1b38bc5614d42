// Batched rate-limit counters (issue 10 lever 1: no store round trip on the hot path). Each
// instance counts per key in process and pushes its unsynced hits to the store in batches
// (Store.addCounters: one INCRBY + PEXPIRE script per key, all keys in one round trip), learning the
// cluster-wide count of each key it pushed. A request is decided on
//   known = (cluster-wide count last learned) + (hits this instance admitted and has not yet synced)
// and is refused (429) when known + 1 > limit. Refused hits are not counted (they change no decision
// within the window).
//
// When hits are pushed: every `flushEveryMs` (default 100 ms), and sooner near the limit. A key may
// hold at most `batch = max(1, floor((limit - lastLearned) × batchFraction))` unsynced hits; at half
// of that a push of the key starts at once, and a request that would exceed it waits for the push in
// flight (one round trip) and is decided on its answer. Close to the limit the batch shrinks to 1:
// the last hits of a window are counted exactly.
//
// Overshoot (README "At the edge", Rate-limit): at most one batch per instance is unknown to the others, so N
// instances sharing one limit admit at most `limit - 1 + N × B` hits per window, with
// B = max(1, floor(limit × batchFraction)). Tested with 3 instances on one Redis
// (test/integration/rate-limit.test.ts).
//
// Store down: the push fails (StoreUnavailableError), the hits stay unsynced and counting goes on in
// process without the batch bound (each instance enforces the limit on its own share, as
// rate-limit-store.ts); the store is probed again after `retryMs`, and the first push that succeeds
// carries what was counted meanwhile. Keys are bounded (`maxLocalKeys`, oldest evicted first).
import { DEFAULT_MAX_LOCAL_KEYS } from '../store/local-windows.js'
import { StoreUnavailableError, type CounterDelta, type Store } from '../store/types.js'
import { StoreHealth, type RateLimitLogger } from './rate-limit-health.js'
import type { WindowCount } from './rate-limit-store.js'

export const DEFAULT_FLUSH_EVERY_MS = 100
export const DEFAULT_BATCH_FRACTION = 0.05
const SWEEP_EVERY_FLUSHES = 10
/** Keys per Store.addCounters call: a push of many keys is several calls, each within the command timeout. */
const PUSH_CHUNK = 500

export interface BatchedCountersOptions {
  /** Push period in ms; 0: no timer (tests call flush()). Default 100. */
  flushEveryMs?: number
  /** Share of the remaining budget a key may hold unsynced (see above). Default 0.05. */
  batchFraction?: number
  maxLocalKeys?: number
  retryMs?: number
  logEveryMs?: number
  logger: RateLimitLogger
  now?: () => number
}

interface KeyState {
  readonly key: string
  windowMs: number
  /** The cluster-wide count last learned from the store (this instance's synced hits included). */
  global: number
  /** Admitted, not yet sent. */
  pending: number
  /** Sent, not yet answered. */
  inFlight: number
  resetAt: number
}

export class BatchedCounters {
  readonly #store: Store
  readonly #keys = new Map<string, KeyState>()
  readonly #dirty = new Set<KeyState>()
  readonly #maxKeys: number
  readonly #fraction: number
  readonly #now: () => number
  readonly #log: RateLimitLogger
  readonly #health: StoreHealth
  readonly #timer: NodeJS.Timeout | null
  #flushing: Promise<void> | null = null
  #next: Promise<void> | null = null
  #flushes = 0
  #closed = false

  constructor (store: Store, opts: BatchedCountersOptions) {
    this.#store = store
    this.#maxKeys = opts.maxLocalKeys ?? DEFAULT_MAX_LOCAL_KEYS
    this.#fraction = opts.batchFraction ?? DEFAULT_BATCH_FRACTION
    if (!(this.#fraction > 0 && this.#fraction <= 1)) throw new TypeError(`batchFraction must be in (0, 1], got ${this.#fraction}`)
    this.#now = opts.now ?? Date.now
    this.#log = opts.logger
    this.#health = new StoreHealth(this.#now, this.#maxKeys, opts.retryMs, opts.logEveryMs)
    const every = opts.flushEveryMs ?? DEFAULT_FLUSH_EVERY_MS
    this.#timer = every > 0 ? setInterval(() => { void this.flush() }, every).unref() : null
  }

  get degraded (): boolean { return this.#health.degraded }
  get size (): number { return this.#keys.size }

  /**
   * Counts a hit on `key` unless it is over `limit`: `count` > limit means refused (not counted).
   * Synchronous unless the key's batch is full; then it resolves after the push in flight.
   */
  hit (key: string, limit: number, windowMs: number): WindowCount | Promise<WindowCount> {
    const now = this.#now()
    const s = this.#state(key, windowMs, now)
    const known = s.global + s.pending + s.inFlight
    const shared = !this.#health.degraded && !this.#closed
    if (known >= limit) return { count: known + 1, ttlMs: s.resetAt - now, shared }
    let pushNow = false
    if (shared) {
      const batch = Math.max(1, Math.floor((limit - s.global) * this.#fraction))
      const unsynced = s.pending + s.inFlight
      if (unsynced >= batch) return this.flush().then(() => this.hit(key, limit, windowMs))
      pushNow = unsynced + 1 >= Math.ceil(batch / 2) // near the batch bound
    } else {
      this.#health.localHits++
    }
    s.pending++
    this.#dirty.add(s)
    if (pushNow) void this.flush()
    return { count: known + 1, ttlMs: s.resetAt - now, shared }
  }

  /**
   * Pushes every key's unsynced hits in one call and learns their cluster-wide counts. One push at
   * a time: called while one is in flight, it resolves after the next one (which carries the hits
   * admitted meanwhile). Never rejects.
   */
  async flush (): Promise<void> {
    if (this.#closed) return
    if (this.#flushing !== null) {
      this.#next ??= this.#flushing.then(async () => { this.#next = null; await this.flush() })
      return await this.#next
    }
    if (this.#dirty.size === 0 || this.#health.resting) return
    this.#flushing = this.#push().finally(() => { this.#flushing = null })
    await this.#flushing
  }

  /**
   * Stops the timer and pushes what is left (the gateway's preClose, while the store is still open).
   * Hits counted afterwards (requests finishing during the close) stay local: at most one batch per
   * key, the share the overshoot bound already allows an instance.
   */
  async close (): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    await this.flush()
    this.#closed = true
  }

  /** Every dirty key, in calls of at most PUSH_CHUNK keys (each bounded by the store's command timeout), sent together. */
  async #push (): Promise<void> {
    const dirty = [...this.#dirty]
    this.#dirty.clear()
    const chunks: KeyState[][] = []
    for (let i = 0; i < dirty.length; i += PUSH_CHUNK) chunks.push(dirty.slice(i, i + PUSH_CHUNK))
    const failures = (await Promise.all(chunks.map(async (chunk) => await this.#pushChunk(chunk)))).filter((e) => e !== null)
    if (failures.length === 0) this.#health.recovered(this.#log)
    else this.#health.failed(failures[0]!, this.#log)
    if (++this.#flushes % SWEEP_EVERY_FLUSHES === 0) this.#sweep()
  }

  async #pushChunk (chunk: KeyState[]): Promise<StoreUnavailableError | null> {
    const deltas: CounterDelta[] = chunk.map((s) => {
      const d = { key: s.key, delta: s.pending, windowMs: s.windowMs }
      s.inFlight += s.pending
      s.pending = 0
      return d
    })
    // a key whose push failed keeps its hits unsynced: counted here, pushed with the next flush
    const unsynced = (s: KeyState, i: number): void => {
      s.inFlight -= deltas[i]!.delta
      s.pending += deltas[i]!.delta
      if (this.#keys.get(s.key) === s) this.#dirty.add(s)
    }
    try {
      const results = await this.#store.addCounters(deltas)
      const now = this.#now()
      let failed = 0
      chunk.forEach((s, i) => {
        const r = results[i]
        if (r === null || r === undefined) { failed++; unsynced(s, i); return } // only this key's shard failed: the others are counted
        s.inFlight -= deltas[i]!.delta
        s.global = r.count
        s.resetAt = now + r.ttlMs // never before the store's own reset
      })
      return failed === 0 ? null : new StoreUnavailableError(`rate-limit push failed for ${failed} of ${chunk.length} keys`)
    } catch (err) {
      chunk.forEach(unsynced)
      return err instanceof StoreUnavailableError ? err : new StoreUnavailableError('rate-limit push failed', { cause: err })
    }
  }

  #state (key: string, windowMs: number, now: number): KeyState {
    let s = this.#keys.get(key)
    if (s === undefined) {
      if (this.#keys.size >= this.#maxKeys) this.#evictOldest()
      s = { key, windowMs, global: 0, pending: 0, inFlight: 0, resetAt: now + windowMs }
      this.#keys.set(key, s)
    } else if (s.resetAt <= now) {
      // the window is over (resetAt is learned from the store's TTL, never before the store's own reset)
      s.global = 0
      s.windowMs = windowMs
      s.resetAt = now + windowMs
      if (this.#health.degraded) s.pending = 0 // counted in a window no store will see
    }
    return s
  }

  /** Drops keys whose window is over and that hold nothing unsynced. */
  #sweep (): void {
    const now = this.#now()
    for (const s of this.#keys.values()) {
      if (s.resetAt <= now && s.pending === 0 && s.inFlight === 0) this.#keys.delete(s.key)
    }
  }

  #evictOldest (): void {
    for (const s of this.#keys.values()) {
      this.#keys.delete(s.key)
      this.#dirty.delete(s)
      return
    }
  }
}
