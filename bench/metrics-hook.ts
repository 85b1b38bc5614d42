// `npx tsx bench/metrics-hook.ts`: the CPU the metrics add to one proxied request, measured in
// process on the hook functions themselves (a throughput run on a shared, loaded machine is too noisy to
// resolve a few microseconds): the gateway app's onResponse hook (src/admin/instrument.ts) and the
// pipeline's forwarding() call, as they run per forwarded request. Compare with the gateway's CPU per
// request in `npm run bench` (CPU µs/req, about 170–200 µs on the reference machine).
import type { FastifyInstance } from 'fastify'
import { GatewayMetrics } from '../src/admin/metrics.js'
import { instrumentApp } from '../src/admin/instrument.js'

const N = Number(process.env.N ?? 1_000_000)
const metrics = new GatewayMetrics()
let hook: ((request: unknown, reply: unknown, done: () => void) => void) | undefined
const fakeApp = { decorateRequest () {}, addHook (_name: string, fn: typeof hook) { hook = fn } }
instrumentApp(fakeApp as unknown as FastifyInstance, metrics)

const route = { id: 'GET,HEAD /orders/*', upstream: { name: 'orders' } }
const reply = { statusCode: 200, elapsedTime: 1.234 }
const request = { method: 'GET', forwardedAtMs: -1, refusal: null, pipeline: null as unknown, routeOptions: { url: '/*' } }
const ctx = { request, reply, route, stage: 'forward' }
;(reply as { request?: unknown }).request = request
request.pipeline = ctx

const noop = (): void => {}

async function round (): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) {
    request.forwardedAtMs = -1
    reply.elapsedTime = 0.5 + (i & 7) * 0.25
    metrics.forwarding(ctx as never)
    hook!(request, reply, noop)
  }
  return Number(process.hrtime.bigint() - t0) / N
}

await round() // warm-up (JIT)
const rounds: number[] = []
for (let r = 0; r < 5; r++) rounds.push(await round())
rounds.sort((a, b) => a - b)
console.log(`metrics per forwarded request (forwarding() + onResponse hook), ${N} calls × 5 rounds: ` +
  `median ${rounds[2]!.toFixed(0)} ns, fastest ${rounds[0]!.toFixed(0)} ns`)
