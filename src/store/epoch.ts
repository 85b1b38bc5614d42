// The store's identity (SECURITY.md E01-E04): an epoch, a random id written once when the data set
// is initialised (SET NX) and carried by every token issued under it (the `sep` claim, refresh
// records). If Redis loses its data (restart without persistence, FLUSHALL, failover to an empty
// replica), the revocation entries are gone with it; the epoch is gone too, the next check writes a
// new one, and every token of the old epoch is refused: its revocation state is unknown.
//
// EpochWatch keeps the epoch this instance last confirmed, in memory, so the per-request check is a
// string comparison. It re-confirms every `intervalMs` (1 s by default), at once after every
// reconnect, and when asked (replicated mode re-syncs its view). While unconfirmed (never checked,
// disconnected since the last check, or a store that may evict keys) `current` is null and tokens
// cannot be judged (503). A change is logged once, as one error line.
//
// A check that fails (a slow or frozen store: a timeout) keeps the last confirmation: a timeout loses
// no data. Losing data takes a restart or a failover, which drop the connection (invalidate, at
// once), or a FLUSHALL, which the next check that gets an answer sees. Dropping the confirmation on a
// timeout would turn a store that is merely near its REDIS_TIMEOUT into 503s for every token.
import { randomBytes } from 'node:crypto'

/** How often the epoch is re-confirmed: a FLUSHALL without a reconnect is noticed within this + the command timeout. */
export const EPOCH_CHECK_MS = 1000

export interface EpochStatus {
  /** The epoch confirmed by the last check; null while unconfirmed. */
  current: string | null
  /** The epoch this instance knew before the store's changed or vanished; null if it never did. */
  previous: string | null
  /** Epoch ms when this instance noticed the change; null if never. */
  changedAt: number | null
  /** One-line reason the store is refused (an evicting maxmemory-policy); null when none. */
  unsafe: string | null
}

/** What every Store exposes (types.ts): the epoch, as this instance last confirmed it. */
export interface StoreEpoch {
  /** The confirmed epoch, or null when it cannot be vouched for right now. Costs nothing. */
  readonly current: string | null
  status(): EpochStatus
  /** Checks now (concurrent callers share one check); resolves the confirmed epoch or null. Never rejects. */
  verify(): Promise<string | null>
}

/** The store-specific half: how to claim and read the epoch, and whether keys can be evicted. */
export interface EpochSource {
  /** Writes `candidate` when the store holds no epoch (SET NX); resolves the epoch the store holds now. */
  claim(candidate: string): Promise<string>
  /** One-line reason why the store may drop keys by itself, or null when it never does. */
  evictionRisk(): Promise<string | null>
}

export interface EpochLogger {
  info(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** 128 random bits, base64url. */
export function newEpoch (): string {
  return randomBytes(16).toString('base64url')
}

export class EpochWatch implements StoreEpoch {
  readonly #source: EpochSource
  readonly #log: EpochLogger
  readonly #now: () => number
  #current: string | null = null
  /** The last epoch this instance confirmed (kept while unconfirmed, to notice a change). */
  #known: string | null = null
  #previous: string | null = null
  #changedAt: number | null = null
  #unsafe: string | null = null
  /** Bumped by invalidate(): a check that started before a disconnect must not confirm anything. */
  #generation = 0
  #inflight: Promise<string | null> | null = null
  /** The check queued behind the one in flight, shared by everyone who asked meanwhile. */
  #next: Promise<string | null> | null = null
  #timer: NodeJS.Timeout | null = null

  /** `confirmed`: an epoch known at once (the memory store's own, per process). */
  constructor (opts: { source: EpochSource, logger: EpochLogger, now?: () => number, confirmed?: string }) {
    this.#source = opts.source
    this.#log = opts.logger
    this.#now = opts.now ?? Date.now
    this.#current = this.#known = opts.confirmed ?? null
  }

  /** Re-confirms every `intervalMs` (0: never on a timer). */
  start (intervalMs = EPOCH_CHECK_MS): this {
    if (intervalMs > 0 && this.#timer === null) {
      this.#timer = setInterval(() => { void this.verify() }, intervalMs)
      this.#timer.unref()
    }
    return this
  }

  get current (): string | null { return this.#current }

  status (): EpochStatus {
    return { current: this.#current, previous: this.#previous, changedAt: this.#changedAt, unsafe: this.#unsafe }
  }

  /** The connection dropped: nothing is vouched for until the next successful check. */
  invalidate (): void {
    this.#generation++
    this.#current = null
    this.#inflight = null
  }

  /**
   * The answer of a check that starts after this call: a caller that just changed something (or
   * just reconnected) never gets the answer of a check that read the store before. Callers arriving
   * while a check is in flight share the one check queued behind it.
   */
  verify (): Promise<string | null> {
    if (this.#inflight === null) return this.#start()
    this.#next ??= this.#inflight.then(() => {
      this.#next = null
      return this.#start()
    })
    return this.#next
  }

  #start (): Promise<string | null> {
    if (this.#inflight === null) {
      const check: Promise<string | null> = this.#check().finally(() => { if (this.#inflight === check) this.#inflight = null })
      this.#inflight = check
    }
    return this.#inflight
  }

  close (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.invalidate()
  }

  async #check (): Promise<string | null> {
    const generation = this.#generation
    let risk: string | null
    let epoch: string
    try {
      risk = await this.#source.evictionRisk()
      epoch = risk === null ? await this.#source.claim(newEpoch()) : ''
    } catch {
      // timed out or refused: the store client logs that. The last confirmation stands (see above);
      // one that never was stays null.
      return null
    }
    if (generation !== this.#generation) return null // disconnected meanwhile: the answer may be stale
    if (risk !== null) {
      // an evicting store can drop a revocation entry silently: no token can be judged on it
      if (this.#unsafe !== risk) this.#log.error({ store: 'epoch', reason: 'store_may_evict', detail: risk }, `refusing every token: ${risk}`)
      this.#unsafe = risk
      this.#current = null
      return null
    }
    if (this.#unsafe !== null) this.#log.info({ store: 'epoch' }, 'the store no longer evicts keys')
    this.#unsafe = null
    if (this.#known !== null && epoch !== this.#known) {
      // the data set was lost or replaced: one line, not one per request (SECURITY.md E02)
      this.#previous = this.#known
      this.#changedAt = this.#now()
      this.#log.error({ store: 'epoch', reason: 'store_epoch_changed', previous: this.#known, current: epoch },
        'the store lost its data (epoch changed): every token issued before is refused')
    }
    this.#known = epoch
    this.#current = epoch
    return epoch
  }
}
