// The Redis store's security-relevant writes (issue 11 items 3 and 5): revocations, user and
// client records (disable, cut-off), refresh-token rotation and consumption, code consumption.
// Each goes through Durability (durable.ts: WAIT for REDIS_MIN_REPLICAS) on the master of its key.
//
// Feed events: on one server, the script PUBLISHes in the same atomic step as its write. On a
// Cluster a script may only touch its own slot, and a sharded channel has a slot of its own, so
// the store SPUBLISHes right after a script that changed something. A publish fails when the
// channel's master is unreachable, and then the subscribers, connected to that same master, lose
// their feed too and re-sync from a snapshot that holds the write. Not covered: a gateway that dies
// between the two calls, or that alone is cut off from the channel's master; the other instances'
// local views lack that one change until their next re-sync (README "High availability").
import type { ConsumeResult, RefreshTokenRecord, RevocationEvent } from '../types.js'
import type { StoreRedis } from './client.js'
import { Durability, ReplicaAckError, type Chain } from './durable.js'
import type { KeyLayout } from './keys.js'
import { isCluster } from './slots.js'

type Run = <T>(what: string, op: () => Promise<T>) => Promise<T>

export class RedisWrites {
  readonly #redis: StoreRedis
  readonly #k: KeyLayout
  readonly #run: Run
  readonly durability: Durability
  /** '' on a Cluster: the scripts do not publish, #publish() does. */
  readonly #channel: string

  constructor (redis: StoreRedis, k: KeyLayout, run: Run, durability: Durability) {
    this.#redis = redis
    this.#k = k
    this.#run = run
    this.durability = durability
    this.#channel = isCluster(redis) ? '' : k.revocations
  }

  /** One durable script call: `call` names the script and its arguments, in order. */
  async #write (what: string, key: string, call: [string, ...Array<string | number>]): Promise<unknown> {
    const [name, ...args] = call
    const [reply] = await this.#run(what, () => this.durability.write(key, (p: Chain) => { (p[name] as (...a: Array<string | number>) => Chain)(...args) }))
    return reply
  }

  async #publish (what: string, events: RevocationEvent[]): Promise<void> {
    if (this.#channel !== '' || events.length === 0) return
    const redis = this.#redis
    await this.#run(what, async () => {
      for (const e of events) await redis.spublish(this.#k.revocations, JSON.stringify(e))
    })
  }

  async revokeUntil (what: string, key: string, ttlMs: number, event: RevocationEvent): Promise<void> {
    const written = await this.#write(what, key, ['revokeUntil', key, ttlMs, this.#channel, JSON.stringify(event)])
    if (written === 1) await this.#publish(what, [event])
  }

  async revokeBefore (what: string, key: string, before: number, event: RevocationEvent): Promise<void> {
    const written = await this.#write(what, key, ['revokeBefore', key, before, this.#channel, JSON.stringify(event)])
    if (written === 1) await this.#publish(what, [event])
  }

  /** The index first (a listing skips an index entry without a record), then record and flag in one script. */
  async putRecord (what: string, record: string, flagKey: string, index: string, id: string, json: string, disabled: string, ifAbsent: string, event: RevocationEvent): Promise<boolean> {
    await this.#run(what, () => this.#redis.sadd(index, id))
    const written = await this.#write(what, record, ['putRecord', record, flagKey, json, disabled, ifAbsent, this.#channel, JSON.stringify(event)])
    if (written === 1) await this.#publish(what, [event])
    return written === 1
  }

  /** The compare-and-set of records.ts: 1 written, 0 changed meanwhile. */
  async updateRecord (what: string, keys: [string, string, string], expected: string, json: string, disabled: string, cutoff: string, disabledEvent: string, cutoffEvent: string): Promise<number> {
    const written = await this.#write(what, keys[0], ['updateRecord', ...keys, expected, json, disabled, cutoff, this.#channel, disabledEvent, cutoffEvent])
    if (written === 1) await this.#publish(what, [disabledEvent, cutoffEvent].filter((e) => e !== '').map((e) => JSON.parse(e) as RevocationEvent))
    return Number(written)
  }

  /** Marks a refresh token or code used and returns its state before (consumeRefresh). Not acknowledged by the replicas: undone, then 503. */
  async consume (what: string, key: string): Promise<[string, string] | null> {
    try {
      return await this.#write(what, key, ['consumeRefresh', key]) as [string, string] | null
    } catch (err) {
      const state = err instanceof ReplicaAckError ? err.replies[0] as [string, string] | null : null
      if (state?.[0] === '0') await this.#release(what, key) // this call consumed it: the retry must find it unused
      throw err
    }
  }

  /**
   * RFC 9700 §4.14.2 rotation. One server: one script (refresh-scripts.ts). Cluster: the two tokens
   * hash to different slots, so the successor is stored first and the old token consumed second; if
   * the old one turns out unknown or used, the successor is deleted. Either way the old token is never
   * used up without a stored successor. Not acknowledged by the replicas: both undone, then 503, so
   * the client's retry with the same token is served, not taken for a replay.
   */
  async rotate (oldKey: string, successorKey: string, json: string, ttlMs: number): Promise<ConsumeResult> {
    let state: [string, string] | null
    try {
      if (isCluster(this.#redis)) {
        await this.#write('rotateRefreshToken', successorKey, ['putRefresh', successorKey, json, ttlMs])
        state = await this.#write('rotateRefreshToken', oldKey, ['consumeRefresh', oldKey]) as [string, string] | null
        if (state === null || state[0] === '1') await this.#run('rotateRefreshToken', () => this.#redis.del(successorKey))
      } else {
        state = await this.#write('rotateRefreshToken', oldKey, ['rotateRefresh', oldKey, successorKey, json, ttlMs]) as [string, string] | null
      }
    } catch (err) {
      const before = err instanceof ReplicaAckError ? err.replies[0] as [string, string] | null : null
      if (before?.[0] === '0') {
        await this.#release('rotateRefreshToken', oldKey)
        await this.#run('rotateRefreshToken', () => this.#redis.del(successorKey))
      }
      throw err
    }
    if (state === null) return { status: 'unknown' }
    // RFC 9700 §4.14.2: a second use of a refresh token is a replay (and got no successor).
    return { status: state[0] === '1' ? 'reused' : 'active', record: JSON.parse(state[1]) as RefreshTokenRecord }
  }

  async #release (what: string, key: string): Promise<void> {
    await this.#run(what, () => this.#redis.releaseConsumed(key))
  }
}
