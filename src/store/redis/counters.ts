// The Redis store's fixed-window counters (scripts.ts addCounter): the edge's rate limits, exact
// (one hit per call) or batched (src/pipeline/rate-limit-batch.ts: many keys' hits per call), and the
// token endpoint's login limits.
import type { CounterDelta, CounterResult } from '../types.js'
import type { StoreRedis } from './client.js'
import type { KeyLayout } from './keys.js'

type Run = <T>(what: string, op: () => Promise<T>) => Promise<T>

export class RedisCounters {
  constructor (private readonly redis: StoreRedis, private readonly k: KeyLayout, private readonly run: Run) {}

  /**
   * One script per key, written back to back on the connection, so the batch costs one round trip.
   * Neither a MULTI nor a script over several keys: on a Cluster the keys live in different slots,
   * and a shard that is down fails only its own keys (null): the others were counted, and a caller
   * that sent the whole batch again would count them twice.
   */
  async add (what: string, deltas: readonly CounterDelta[]): Promise<Array<CounterResult | null>> {
    if (deltas.length === 0) return []
    const settled = await Promise.allSettled(deltas.map(async (d) =>
      await this.run(what, async () => await this.redis.addCounter(this.k.counter(d.key), d.delta, d.windowMs))))
    const failed = settled.find((s) => s.status === 'rejected')
    if (failed !== undefined && settled.every((s) => s.status === 'rejected')) throw failed.reason
    return settled.map((s) => s.status === 'fulfilled' ? { count: s.value[0], ttlMs: s.value[1] } : null)
  }

  async reset (key: string): Promise<void> {
    await this.run('resetCounter', () => this.redis.del(this.k.counter(key)))
  }
}
