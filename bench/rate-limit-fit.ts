// Issue 10 lever 1: what the edge's rate-limit decision costs per request, counting in process, so
// only the limiter's own work is timed (no Redis, no HTTP). Interleaved rounds, CPU µs per decision
// (process.cpuUsage, stable under contention), median of rounds:
//   plugin   @fastify/rate-limit's createRateLimit (the stage until issue 10) over a counting store
//            that answers at once, as the stage's store did when it answered from memory
//   batched  the stage's batched counters (src/pipeline/rate-limit-batch.ts) over the memory store,
//            answered synchronously as the stage uses them (no promise, nothing awaited)
// Run: npx tsx bench/rate-limit-fit.ts   (ROUNDS, CALLS to change the sizes)
import Fastify, { type FastifyRequest } from 'fastify'
import rateLimitPlugin from '@fastify/rate-limit'
import { BatchedCounters } from '../src/pipeline/rate-limit-batch.js'
import { MemoryStore } from '../src/store/memory/index.js'

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

const batched = new BatchedCounters(new MemoryStore(), { flushEveryMs: 100, logger: { info () {}, warn () {} } })

async function plugin (): Promise<void> {
  for (let i = 0; i < CALLS; i++) {
    const r = await check(requests[i % KEYS]!)
    if (r.isExceeded) throw new Error('refused')
  }
}

async function ours (): Promise<void> {
  for (let i = 0; i < CALLS; i++) {
    const r = batched.hit(keyOf(i), LIMIT, 60_000)
    const w = r instanceof Promise ? await r : r
    if (w.count > LIMIT) throw new Error('refused')
  }
}

function cpuMicros (): number { const u = process.cpuUsage(); return u.user + u.system }
const results: Record<string, number[]> = { plugin: [], batched: [] }
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of [['plugin', plugin], ['batched', ours]] as const) {
    const start = cpuMicros()
    await fn()
    results[name]!.push((cpuMicros() - start) / CALLS)
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const [name, xs] of Object.entries(results)) console.log(`${name.padEnd(8)} ${median(xs).toFixed(2)} µs CPU per decision (median of ${ROUNDS} rounds of ${CALLS}; rounds: ${xs.map((x) => x.toFixed(2)).join(' ')})`)
await batched.close()
await app.close()
