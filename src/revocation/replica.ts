// REVOCATION_MODE=replicated (the default): the revocation check answered from a local view
// (view.ts) instead of one store round trip per request, with Redis still the source of truth.
//
//   feed up ──► buffer events, load a snapshot ──► view = snapshot + buffered events ──► LIVE
//   feed down (disconnect, heartbeat unanswered, event unreadable) ──► view dropped ──► STRICT
//   LIVE, but no heartbeat answered within REVOCATION_MAX_LAG ──► view kept, not trusted ──► STRICT
//
// While not LIVE, or not confirmed current within maxLagMs, state() answers null and the
// check-revocation stage reads the store per request (so a dead or frozen Redis means 503, fail
// closed, never a token trusted on stale data). Events that arrive while the snapshot loads are
// applied on top of it in order, so no change is lost between the SUBSCRIBE and the SCAN; the view
// is trusted only once that snapshot is in. A view past REVOCATION_VIEW_MAX entries is dropped
// (strict) and rebuilt after RESYNC_AFTER_OVERFLOW_MS: memory stays bounded, correctness is never
// traded for it.
//
// Propagation: a revocation is applied on every LIVE instance when its PUBLISH arrives (the same
// Lua script as the write; on a Redis Cluster an SPUBLISH right after it, src/store/redis/writes.ts),
// typically within a millisecond or two on a LAN. A failover or slot migration of the feed's Redis
// node drops the feed (down: strict), and its re-subscription on the new master is an up(): re-sync.
// Upper bound, whatever happens to the feed: the feed PINGs every maxLagMs / 4 and each answer proves
// every change published before that PING was delivered (one connection, in order). The view is
// trusted only while the last such proof is at most maxLagMs old, so a revocation made at time R is
// applied from its event, or checked in the store per request from R + maxLagMs at the latest.
import type { RevocationEvent, RevocationFeed, RevocationQuery, RevocationState, Store } from '../store/types.js'
import { RevocationView } from './view.js'

export interface ReplicaLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface ReplicaOptions {
  store: Store
  logger: ReplicaLogger
  /** Most entries held locally (REVOCATION_VIEW_MAX). */
  maxEntries: number
  /** REVOCATION_MAX_LAG: the view is trusted only while the feed proved it current this recently. */
  maxLagMs?: number
  now?: () => number
  /** Wait before retrying a failed snapshot. */
  retryMs?: number
}

const SWEEP_EVERY_MS = 10_000
const RESYNC_AFTER_OVERFLOW_MS = 60_000
const DEFAULT_RETRY_MS = 500
export const DEFAULT_MAX_LAG_MS = 1000
/** Heartbeats per maxLagMs: a healthy feed re-confirms the view well before it expires. */
const HEARTBEATS_PER_LAG = 4

export class RevocationReplica {
  readonly #store: Store
  readonly #log: ReplicaLogger
  readonly #max: number
  readonly #now: () => number
  readonly #retryMs: number
  readonly #maxLagMs: number
  #view: RevocationView | null = null
  #buffer: RevocationEvent[] | null = null
  #generation = 0
  #feed: RevocationFeed | null = null
  #timers = new Set<NodeJS.Timeout>()
  #closed = false
  /** Epoch ms when the view last became live (tests, diagnostics). */
  liveSince: number | null = null
  /** Clock ms as of which the feed last proved the view complete: the re-sync's start, or a heartbeat's sending. */
  #confirmedAt = 0

  constructor (opts: ReplicaOptions) {
    this.#store = opts.store
    this.#log = opts.logger
    this.#max = opts.maxEntries
    this.#now = opts.now ?? Date.now
    this.#retryMs = opts.retryMs ?? DEFAULT_RETRY_MS
    this.#maxLagMs = opts.maxLagMs ?? DEFAULT_MAX_LAG_MS
  }

  /** Subscribes; the view becomes live once the first snapshot is in. Never throws. */
  start (): this {
    this.#feed = this.#store.subscribeRevocations({
      event: (e) => { this.#event(e) },
      up: () => { void this.#resync() },
      down: () => { this.#drop() },
      alive: (ageMs) => { this.#confirmedAt = Math.max(this.#confirmedAt, this.#now() - ageMs) }
    }, { heartbeatMs: Math.max(10, Math.floor(this.#maxLagMs / HEARTBEATS_PER_LAG)) })
    this.#every(SWEEP_EVERY_MS, () => { this.#view?.sweep(this.#now()) })
    return this
  }

  /** Whether checks are answered locally now: a view is loaded and the feed proved it current within maxLagMs. */
  get live (): boolean { return this.#view !== null && this.#fresh(this.#now()) }

  /**
   * How far the local view may be behind the store, in seconds: the time since the feed last proved
   * it current (the Redis feed's heartbeat answers every maxLagMs / 4). 0 while no view is loaded
   * (every check then reads the store) and for an in-process feed.
   */
  feedLagSeconds (): number {
    if (this.#view === null || this.#feed?.inProcess === true) return 0
    return Math.max(0, this.#now() - this.#confirmedAt) / 1000
  }

  /** The revocation state from the local view, or null when not live (then ask the store). */
  state (q: RevocationQuery): RevocationState | null {
    if (this.#view === null) return null
    const now = this.#now()
    // not proved current within maxLagMs (feed silently stalled, server frozen): unknown, ask the store
    return this.#fresh(now) ? this.#view.state(q, now) : null
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#drop()
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    await this.#feed?.close()
  }

  #fresh (now: number): boolean {
    return this.#feed?.inProcess === true || now - this.#confirmedAt <= this.#maxLagMs
  }

  #event (e: RevocationEvent): void {
    // an event proves nothing about the ones after it: only heartbeats and re-syncs confirm the view
    if (this.#buffer !== null) this.#buffer.push(e)
    else if (this.#view !== null) {
      this.#view.apply(e)
      if (this.#view.size > this.#max) this.#overflow()
    }
  }

  async #resync (): Promise<void> {
    const generation = ++this.#generation
    // subscribed before this point: the snapshot read after it plus the buffered events miss nothing older
    const startedAt = this.#now()
    this.#view = null
    this.#buffer = []
    let snapshot: RevocationEvent[]
    try {
      // SECURITY.md E02: a feed that comes back may be talking to a store that lost its data; the
      // epoch is re-confirmed first (the check-revocation stage compares every token against it and
      // refuses them all while it is unconfirmed, so its outcome needs no handling here)
      await this.#store.epoch.verify()
      snapshot = await this.#store.revocationSnapshot()
    } catch (err) {
      if (generation !== this.#generation || this.#closed) return
      this.#buffer = null
      this.#log.warn({ reason: 'revocation_snapshot_failed', err: (err as Error).message }, 'revocation snapshot failed: checking per request, retrying')
      this.#after(this.#retryMs, () => { if (generation === this.#generation) void this.#resync() })
      return
    }
    if (generation !== this.#generation || this.#closed) return // the feed went down (and maybe up) meanwhile
    const view = new RevocationView()
    for (const e of snapshot) view.apply(e)
    for (const e of this.#buffer ?? []) view.apply(e)
    this.#buffer = null
    if (view.size > this.#max) { this.#overflow(); return }
    this.#view = view
    this.liveSince = this.#now()
    this.#confirmedAt = Math.max(this.#confirmedAt, startedAt)
    this.#log.info({ entries: view.size }, 'revocation view live: revocation checked locally')
  }

  #drop (): void {
    this.#generation++
    this.#view = null
    this.#buffer = null
    this.liveSince = null
  }

  #overflow (): void {
    this.#drop()
    this.#log.warn({ reason: 'revocation_view_full', max: this.#max }, 'revocation view over REVOCATION_VIEW_MAX: checking per request')
    const generation = this.#generation
    this.#after(RESYNC_AFTER_OVERFLOW_MS, () => { if (generation === this.#generation) void this.#resync() })
  }

  #after (ms: number, fn: () => void): void {
    if (this.#closed) return
    const t = setTimeout(() => { this.#timers.delete(t); fn() }, ms)
    t.unref()
    this.#timers.add(t)
  }

  #every (ms: number, fn: () => void): void {
    const t = setInterval(fn, ms)
    t.unref()
    this.#timers.add(t)
  }
}

/** The replica REVOCATION_MODE asks for (null in strict mode), started. */
export function revocationReplicaFor (config: { REVOCATION_MODE?: string, REVOCATION_VIEW_MAX?: number, REVOCATION_MAX_LAG?: number }, store: Store, logger: ReplicaLogger): RevocationReplica | null {
  if (config.REVOCATION_MODE !== 'replicated') return null
  return new RevocationReplica({ store, logger, maxEntries: config.REVOCATION_VIEW_MAX ?? 200_000, maxLagMs: config.REVOCATION_MAX_LAG === undefined ? undefined : config.REVOCATION_MAX_LAG * 1000 }).start()
}
