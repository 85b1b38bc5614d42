// Issue 10 lever 1: what the edge's rate-limit decision costs per request, counting in process, so
// only the limiter's own work is timed (no Redis, no HTTP). Interleaved rounds, CPU µs per decision
// (process.cpuUsage, stable under contention), median of rounds:
//   plugin   @fastify/rate-limit's createRateLimit (the stage until issue 10) over a counting store
//            that answers at once, as the stage's store did when it answered from memory
//   batched  the stage's batched counters (src/pipeline/rate-limit-batch.ts) over the memory store,
//            answered synchronously as the stage uses them (no promise, nothing awaited)
// With REDIS_URL set (a scratch redis-server, never a production one: it writes `fit:` keys), two more,
// the round trip included in this process's CPU (ioredis encoding and parsing, timers, promises):
//   exact    the stage's exact counters (mode: exact): one EVALSHA per decision, awaited
//   batched-redis  the batched counters over Redis, pushed every 100 ms
// Run: npx tsx bench/rate-limit-fit.ts   (ROUNDS, CALLS to change the sizes)
import Fastify, { type FastifyRequest } from 'fastify'
import rateLimitPlugin from '@fastify/rate-limit'
import { BatchedCounters } from '../src/pipeline/rate-limit-batch.js'
import { MemoryStore } from '../src/store/memory/index.js'
import { RateLimitCounters } from '../src/pipeline/rate-limit-store.js'
import { RedisStore } from '../src/store/index.js'
import type { Store } from '../src/store/types.js'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const CALLS = Number(process.env.CALLS ?? 50_000)
const KEYS = 1000
const LIMIT = 1_000_000_000 // as the bench's routes: never refused
const keyOf = (i: number): string => `rl:"GET /orders/*":sub:user-${i % KEYS}`

const counts = new Map<string, number>()
class InstantStore {
  incr (key: string, done: (err: Error | null, res?: { current: number, ttl: number }) => void): void {
    const current = (counts.get(key) ?? 0) + 1
    counts.set(key, current)
    done(null, { current, ttl: 60_000 })
  }

  child (): InstantStore { return this }
}
const app = Fastify()
await app.register(rateLimitPlugin, { global: false, store: InstantStore })
await app.ready()
const check = app.createRateLimit({
  keyGenerator: (req) => (req as unknown as { key: string }).key,
  max: () => LIMIT,
  timeWindow: () => 60_000
})
const requests = Array.from({ length: KEYS }, (_, i) => ({ key: keyOf(i), ip: '127.0.0.1', headers: {}, routeOptions: { config: {} } }) as unknown as FastifyRequest)

const quiet = { info () {}, warn () {} }
const batched = new BatchedCounters(new MemoryStore(), { flushEveryMs: 100, logger: quiet })
const redisUrl = process.env.REDIS_URL
const redis: RedisStore | null = redisUrl === undefined ? null : new RedisStore({ url: redisUrl, prefix: 'fit:' })
if (redis !== null && !await redis.ready(5000)) throw new Error(`no Redis at ${redisUrl}`)
const exactCounters = redis === null ? null : new RateLimitCounters(redis as Store, { logger: quiet })
const batchedRedis = redis === null ? null : new BatchedCounters(redis, { flushEveryMs: 100, logger: quiet })

async function plugin (): Promise<void> {
  for (let i = 0; i < CALLS; i++) {
    const r = await check(requests[i % KEYS]!)
    if (!r.isAllowed && r.isExceeded) throw new Error('refused')
  }
}

async function exact (): Promise<void> {
  for (let i = 0; i < CALLS; i++) {
    const w = await exactCounters!.increment(keyOf(i), 60_000)
    if (w.count > LIMIT) throw new Error('refused')
  }
}

const ours = (counters: BatchedCounters) => async (): Promise<void> => {
  for (let i = 0; i < CALLS; i++) {
    const r = counters.hit(keyOf(i), LIMIT, 60_000)
    const w = r instanceof Promise ? await r : r
    if (w.count > LIMIT) throw new Error('refused')
  }
}

function cpuMicros (): number { const u = process.cpuUsage(); return u.user + u.system }
const runs: Array<[string, () => Promise<void>]> = [['plugin', plugin], ['batched', ours(batched)]]
if (redis !== null) runs.push(['exact', exact], ['batched-redis', ours(batchedRedis!)])
const results: Record<string, number[]> = Object.fromEntries(runs.map(([name]) => [name, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of runs) {
    const start = cpuMicros()
    await fn()
    results[name]!.push((cpuMicros() - start) / CALLS)
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const [name, xs] of Object.entries(results)) console.log(`${name.padEnd(13)} ${median(xs).toFixed(2)} µs CPU per decision (median of ${ROUNDS} rounds of ${CALLS}; rounds: ${xs.map((x) => x.toFixed(2)).join(' ')})`)
await batched.close()
await batchedRedis?.close()
await redis?.close()
await app.close()
