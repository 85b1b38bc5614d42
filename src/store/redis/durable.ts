// Writes that must survive a failover (issue 11 item 5): a revocation, a refresh-token or
// authorization-code consumption, a user or client disable. Each is sent as one pipeline on the
// connection of the master that holds its key: the write itself, then INCR of that master's write
// counter (epoch.ts: the lost-write check), then `WAIT n timeout`. The call resolves
// only when `n` replicas have copied everything this connection wrote, so the write is on a replica
// before anyone hears it is done. WAIT narrows the loss window; it is not consensus (README
// "High availability").
//
// n = REDIS_MIN_REPLICAS, lowered to the replicas that master has online right now (polled every
// second with INFO replication): right after a failover the new master has none until the old one
// rejoins, and waiting for a replica that is not there would turn every revocation into a 503. The
// shortfall is reported (status(), /readyz, one log line per change). Not acknowledged in time:
// ReplicaAckError, a StoreUnavailableError (503 with Retry-After); the callers make a retry safe.
import { StoreUnavailableError } from '../types.js'
import type { StoreLogger, StoreRedis } from './client.js'
import { isCluster, masterOf, masters, nodeKey } from './slots.js'

/** How often each master's online replicas are counted. */
export const REPLICA_POLL_MS = 1000
/** WAIT ends this much before the command timeout, so its own answer still arrives in time. */
const WAIT_MARGIN_MS = 200

export interface ReplicaStatus {
  /** REDIS_MIN_REPLICAS. */
  required: number
  /** Online replicas per master (`host:port` on a Cluster, `master` on one server). */
  online: Record<string, number>
  /** Masters with fewer online replicas than required: writes there wait for the ones they have. */
  short: string[]
}

export class ReplicaAckError extends StoreUnavailableError {
  /** The replies of the write itself: it ran on the master (a caller may have to undo it). */
  readonly replies: unknown[]
  constructor (message: string, replies: unknown[]) {
    super(message)
    this.replies = replies
  }
}

/** A pipeline as the durable writes use it: any command, and the store's scripts. */
export type Chain = Record<string, (...args: Array<string | number>) => Chain>

export class Durability {
  readonly #redis: StoreRedis
  readonly #required: number
  readonly #waitMs: number
  readonly #log: StoreLogger
  readonly #counterOf: (key: string) => string | null
  readonly #online = new Map<string, number>()
  #short = ''
  #timer: NodeJS.Timeout | null = null
  /** Per write-counter key, the highest value this instance got acknowledged (epoch.ts reads them). */
  readonly acked = new Map<string, number>()

  /**
   * `counterOf`: the write-counter key INCR'd with a write of `key`, on the same master (epoch.ts
   * writeCounter: one key on one server, one per master on a Cluster); null: none (slots not known).
   */
  constructor (redis: StoreRedis, opts: { required: number, timeoutMs: number, logger: StoreLogger, counterOf: (key: string) => string | null }) {
    this.#redis = redis
    this.#required = opts.required
    this.#waitMs = Math.max(10, opts.timeoutMs - WAIT_MARGIN_MS)
    this.#log = opts.logger
    this.#counterOf = opts.counterOf
  }

  start (intervalMs = REPLICA_POLL_MS): this {
    if (this.#required > 0 && this.#timer === null) {
      this.#timer = setInterval(() => { void this.poll() }, intervalMs)
      this.#timer.unref()
      void this.poll()
    }
    return this
  }

  close (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  status (): ReplicaStatus {
    const online = Object.fromEntries(this.#online)
    return { required: this.#required, online, short: Object.keys(online).filter((n) => (online[n] ?? 0) < this.#required) }
  }

  #polling: Promise<void> | null = null

  /** Counts every master's online replicas (INFO replication); concurrent callers share one count. */
  async poll (): Promise<void> {
    this.#polling ??= this.#poll().finally(() => { this.#polling = null })
    await this.#polling
  }

  /** A master that does not answer keeps its last count. */
  async #poll (): Promise<void> {
    const cluster = isCluster(this.#redis)
    const seen = new Set<string>()
    await Promise.all(masters(this.#redis).map(async (node) => {
      const name = cluster ? nodeKey(node) : 'master'
      seen.add(name)
      try {
        const info = await node.info('replication')
        this.#online.set(name, [...info.matchAll(/^slave\d+:.*state=online/gm)].length)
      } catch { /* unreachable now: the command client logs that */ }
    }))
    for (const name of this.#online.keys()) if (!seen.has(name)) this.#online.delete(name)
    const short = this.status().short.map((n) => `${n}=${this.#online.get(n) ?? 0}`).sort().join(',')
    if (short !== this.#short) {
      if (short === '') this.#log.info({ store: 'redis', required: this.#required }, 'every Redis master has its replicas again')
      else this.#log.warn({ store: 'redis', required: this.#required, online: short }, 'Redis master(s) with fewer replicas than REDIS_MIN_REPLICAS: writes wait for the replicas online only')
      this.#short = short
    }
  }

  /**
   * Replicas a write on the master of `key` waits for: the required ones, at most those online there.
   * A master not counted yet (just promoted, or just started) is counted first.
   */
  async #need (key: string): Promise<number> {
    if (this.#required === 0) return 0
    const name = (): string | null => {
      const node = masterOf(this.#redis, key)
      return node === null ? null : isCluster(this.#redis) ? node : 'master'
    }
    let node = name()
    if (node === null || !this.#online.has(node)) {
      await this.poll()
      node = name()
    }
    const online = node === null ? undefined : this.#online.get(node)
    return Math.min(this.#required, online ?? this.#required)
  }

  /**
   * Runs the commands `add` puts on a pipeline (all on the master of `key`), then WAIT. Resolves
   * their replies; rejects with ReplicaAckError when too few replicas acknowledged within the bound.
   */
  async write (key: string, add: (p: Chain) => void): Promise<unknown[]> {
    const need = await this.#need(key)
    const p = this.#redis.pipeline()
    add(p as unknown as Chain)
    const writes = p.length
    const counter = this.#counterOf(key)
    if (counter !== null) p.incr(counter)
    if (need > 0) p.wait(need, this.#waitMs)
    const replies = (await p.exec()) ?? []
    // the counter alone may fail (its slot migrating: ASK); the write stands, WAIT covers it, it goes uncounted
    const counted = counter !== null && replies[writes]?.[0] === null
    replies.forEach(([err], i) => { if (err !== null && (counter === null || i !== writes)) throw err })
    const values = replies.map(([, v]) => v)
    if (need > 0) {
      const acked = Number(values[values.length - 1])
      if (acked < need) {
        throw new ReplicaAckError(`redis: the write reached ${acked} of ${need} replica(s) within ${this.#waitMs} ms (REDIS_MIN_REPLICAS)`, values.slice(0, writes))
      }
    }
    if (counted) this.acked.set(counter, Math.max(this.acked.get(counter) ?? 0, Number(values[writes])))
    return values.slice(0, writes)
  }
}
