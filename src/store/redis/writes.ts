// The Redis store's security-relevant writes (issue 11 items 3 and 5): revocations, user and
// client records (disable, cut-off), refresh-token rotation and consumption, code consumption.
// Each goes through Durability (durable.ts: WAIT for REDIS_MIN_REPLICAS) on the master of its key.
//
// Feed events: on one server, the script PUBLISHes in the same atomic step as its write, before
// the WAIT, so a write that gets its 503 (replicas too slow) has been announced all the same. On a
// Cluster a script may only touch its own slot, and a sharded channel has a slot of its own, so the
// store SPUBLISHes after the script (#durable), on each of the three outcomes that leave the change
// in place: written; written but not acknowledged by the replicas in time (the 503 of durable.ts);
// already in place (a revocation's script answers 0; a record's compare-and-set simply writes it
// again), as on the client's retry after such a 503 or after a failed SPUBLISH. A repeated event is
// harmless (view.ts keeps the later marker or cut-off, a flag is set to its stored value). A
// publish fails when the channel's master is unreachable, and then the subscribers, connected to that
// same master, lose their feed too and re-sync from a snapshot that holds the write. Not covered,
// when the client never retries: a gateway that dies between the two calls, or that alone is cut off
// from the channel's master, and a write that timed out queued behind another's WAIT (it may not
// have run: nothing is published); the other instances' local views lack that one change until
// their next re-sync (SECURITY.md "Known gaps").
import type { RefreshTokenRecord, RevocationEvent, RotateResult, RotationOptions } from '../types.js'
import type { StoreRedis } from './client.js'
import { Durability, ReplicaAckError, type Chain } from './durable.js'
import type { KeyLayout } from './keys.js'
import { isCluster } from './slots.js'

type Run = <T>(what: string, op: () => Promise<T>) => Promise<T>

/** A rotation script's reply: status, the old token's record, then the grace fields (refresh-scripts.ts). */
type RotateReply = [string, string, string?, string?, string?]
/** A rotation without REFRESH_GRACE: a second use is always a replay. */
const NO_GRACE: RotationOptions = Object.freeze({ presenterJkt: '', graceMs: 0, sealedSuccessor: '' })
const ROTATE_STATUS: Record<string, 'active' | 'reused' | 'grace' | 'wrong_key'> = { 0: 'active', 1: 'reused', 2: 'grace', 3: 'wrong_key' }

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

  /**
   * A durable write and (Cluster) its feed events; `events` maps the script's reply to the events of
   * the change it left in place. Not acknowledged by the replicas: the write ran on the master all the
   * same, so its events are published (best effort) before the 503.
   */
  async #durable (what: string, key: string, call: [string, ...Array<string | number>], events: (reply: unknown) => RevocationEvent[]): Promise<unknown> {
    let reply: unknown
    try {
      reply = await this.#write(what, key, call)
    } catch (err) {
      if (err instanceof ReplicaAckError) await this.#publish(what, events(err.replies[0])).catch(() => {}) // the caller answers 503 anyway; its retry publishes again
      throw err
    }
    await this.#publish(what, events(reply))
    return reply
  }

  /** 1 written, 0 already revoked at least as long (a retry, or a second request): published either way. */
  async revokeUntil (what: string, key: string, ttlMs: number, event: RevocationEvent): Promise<void> {
    await this.#durable(what, key, ['revokeUntil', key, ttlMs, this.#channel, JSON.stringify(event)], () => [event])
  }

  /** 1 written, 0 an equal or later cut-off in place: published either way. */
  async revokeBefore (what: string, key: string, before: number, event: RevocationEvent): Promise<void> {
    await this.#durable(what, key, ['revokeBefore', key, before, this.#channel, JSON.stringify(event)], () => [event])
  }

  /**
   * The index first (a listing skips an index entry without a record), then record and flag in one
   * script. 0 (ifAbsent, the record exists) wrote nothing: its event would announce a state that is
   * not the stored one, so nothing is published.
   */
  async putRecord (what: string, record: string, flagKey: string, index: string, id: string, json: string, disabled: string, ifAbsent: string, event: RevocationEvent): Promise<boolean> {
    await this.#run(what, () => this.#redis.sadd(index, id))
    const written = await this.#durable(what, record, ['putRecord', record, flagKey, json, disabled, ifAbsent, this.#channel, JSON.stringify(event)], (w) => w === 1 ? [event] : [])
    return written === 1
  }

  /**
   * The compare-and-set of records.ts: 1 written, 0 changed meanwhile (nothing written, nothing
   * published: records.ts reads again, and the write that follows publishes, a retry after a 503 too).
   */
  async updateRecord (what: string, keys: [string, string, string], expected: string, json: string, disabled: string, cutoff: string, disabledEvent: string, cutoffEvent: string): Promise<number> {
    const events = [disabledEvent, cutoffEvent].filter((e) => e !== '').map((e) => JSON.parse(e) as RevocationEvent)
    const written = await this.#durable(what, keys[0], ['updateRecord', ...keys, expected, json, disabled, cutoff, this.#channel, disabledEvent, cutoffEvent], (w) => w === 1 ? events : [])
    return Number(written)
  }

  /**
   * Marks a refresh token or code used and returns its state before (consumeRefresh); a first use
   * keeps the key at least `keepMs` (codes). Not acknowledged by the replicas: undone, then 503.
   */
  async consume (what: string, key: string, keepMs = 0): Promise<[string, string] | null> {
    try {
      return await this.#write(what, key, ['consumeRefresh', key, keepMs]) as [string, string] | null
    } catch (err) {
      const state = err instanceof ReplicaAckError ? err.replies[0] as [string, string] | null : null
      if (state?.[0] === '0') await this.#release(what, key) // this call consumed it: the retry must find it unused
      throw err
    }
  }

  /**
   * RFC 9700 §4.14.2 rotation, with the REFRESH_GRACE retry (refresh-scripts.ts). One server: one
   * script. Cluster: the two tokens hash to different slots, so the successor is stored first and the
   * old token consumed second (consumeWithGrace, in the old token's slot with its grace entry); a grace
   * retry is decided here by whether that successor is still unused. If the old one turns out unknown,
   * used or bound to another key, the new successor is deleted. Either way the old token is never
   * used up without a stored successor. Not acknowledged by the replicas: undone, then 503, so the
   * client's retry with the same token is served, not taken for a replay.
   */
  async rotate (keys: { old: string, successor: string, grace: string }, json: string, ttlMs: number, opts: RotationOptions = NO_GRACE): Promise<RotateResult> {
    const { old, successor, grace } = keys
    const what = 'rotateRefreshToken'
    let state: RotateReply | null
    try {
      if (isCluster(this.#redis)) {
        await this.#write(what, successor, ['putRefresh', successor, json, ttlMs])
        state = await this.#write(what, old, ['consumeWithGrace', old, grace, successor, opts.presenterJkt, opts.graceMs, opts.sealedSuccessor]) as RotateReply | null
        if (state?.[0] === '1') state = await this.#graceRetry(state, opts.presenterJkt)
        if (state === null || state[0] !== '0') await this.#run(what, () => this.#redis.del(successor))
      } else {
        state = await this.#write(what, old, ['rotateRefresh', old, successor, grace, json, ttlMs, opts.presenterJkt, opts.graceMs, opts.sealedSuccessor]) as RotateReply | null
      }
    } catch (err) {
      const before = err instanceof ReplicaAckError ? err.replies[0] as RotateReply | null : null
      if (before?.[0] === '0') { // this call rotated: undo it, so that the retry finds the old token unused
        await this.#release(what, old)
        // one key per call: on a Cluster the successor lives in another slot than the grace entry
        await this.#run(what, () => this.#redis.del(successor))
        await this.#run(what, () => this.#redis.del(grace))
      }
      throw err
    }
    if (state === null) return { status: 'unknown' }
    const record = JSON.parse(state[1]) as RefreshTokenRecord
    const status = ROTATE_STATUS[state[0]] ?? 'reused' // an unknown answer is judged a replay (fail closed)
    if (status === 'grace') return { status, record, sealedSuccessor: state[2] ?? '' }
    return { status, record }
  }

  /** Cluster: an already-used token is a grace retry when its grace entry names the presenter's key and an unused successor. */
  async #graceRetry (state: RotateReply, presenterJkt: string): Promise<RotateReply> {
    const [, record, successor = '', sealed = '', key] = state
    if (successor === '' || key !== presenterJkt) return ['1', record]
    const used = await this.#run('rotateRefreshToken', () => this.#redis.hget(successor, 'u'))
    return used === '0' ? ['2', record, sealed] : ['1', record]
  }

  async #release (what: string, key: string): Promise<void> {
    await this.#run(what, () => this.#redis.releaseConsumed(key))
  }
}
