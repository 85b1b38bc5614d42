// The signing-key set of the Redis store, one hash of kid → JSON record (same contract as the memory
// store's KeySet: add never overwrites, update never brings a removed kid back), and the small helpers
// the store shares with it.
import type { KeyRecord } from '../types.js'
import { byCreatedThenKid, compare } from '../key-order.js'

export { compare }
import type { StoreRedis } from './client.js'

type Run = <T>(what: string, op: () => Promise<T>) => Promise<T>

export class RedisKeySet {
  readonly #redis: StoreRedis
  readonly #hash: string
  readonly #run: Run

  /** `run` bounds each call like every other store call. */
  constructor (redis: StoreRedis, hash: string, run: Run) {
    this.#redis = redis
    this.#hash = hash
    this.#run = run
  }

  async list (): Promise<KeyRecord[]> {
    const all = await this.#run('listKeys', () => this.#redis.hvals(this.#hash))
    return all.map((json) => JSON.parse(json) as KeyRecord).sort(byCreatedThenKid)
  }

  /** Never overwrites an existing kid (use update); resolves false then. With onlyIfEmpty, only into an empty set. */
  async add (key: KeyRecord, opts: { onlyIfEmpty?: boolean }): Promise<boolean> {
    const added = await this.#run('addKey', () => this.#redis.addKey(this.#hash, key.kid, JSON.stringify(key), flag(opts.onlyIfEmpty)))
    return added === 1
  }

  /** Replaces the record of an existing kid; a removed kid is not brought back. */
  async update (key: KeyRecord): Promise<void> {
    await this.#run('updateKey', () => this.#redis.updateKey(this.#hash, key.kid, JSON.stringify(key)))
  }

  async remove (kid: string): Promise<void> {
    await this.#run('removeKey', () => this.#redis.hdel(this.#hash, kid))
  }
}

export function flag (value: boolean | undefined): string {
  return value === true ? '1' : '0'
}
