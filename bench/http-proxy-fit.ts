// Why the gateway calls @fastify/reply-from itself instead of registering @fastify/http-proxy
// (README "Libraries and what each does"). http-proxy registers one prefix per plugin instance into
// Fastify's router at start; after app.ready() Fastify refuses new routes, so a route-map reload
// (SIGHUP / file watch, src/config/route-watcher.ts) would need a restart. Our table is compiled
// off to the side and swapped atomically. Measured here, same process, N routes each:
//   (a) N × app.register(httpProxy, { prefix }) + app.ready()
//   (b) compileRouteMap() of a routes.yaml with N routes (what a reload does)
//   (c) whether a prefix can be added after ready
//   (d) one attempt at BENCH_BIG routes (10 000) with http-proxy: which phase fails, if any
//   npx tsx bench/http-proxy-fit.ts        (BENCH_ROUTES=1000, BENCH_BIG=10000 by default)
import Fastify from 'fastify'
import { compileRouteMap } from '../src/config/route-map-loader.js'

const N = Number(process.env.BENCH_ROUTES ?? 1000)
const BIG = Number(process.env.BENCH_BIG ?? 10_000)
const UPSTREAM = 'http://127.0.0.1:9' // never contacted
let httpProxy: unknown
try {
  httpProxy = ((await import('@fastify/http-proxy')) as { default: unknown }).default
} catch {
  console.log('@fastify/http-proxy is not installed (npm install: it is a devDependency of bench/)')
  process.exit(0)
}

function routesYaml (n: number): string {
  const yaml = ['version: 1', 'upstreams:', `  svc: { url: ${UPSTREAM}, timeout: 2s }`, 'routes:']
  for (let i = 0; i < n; i++) yaml.push(`  - path: /svc${i}/*`, '    upstream: svc')
  return yaml.join('\n') + '\n'
}
const text = routesYaml(N)

async function viaHttpProxy (): Promise<number> {
  const t0 = performance.now()
  const app = Fastify({ logger: false })
  for (let i = 0; i < N; i++) await app.register(httpProxy as never, { upstream: UPSTREAM, prefix: `/svc${i}` })
  await app.ready()
  const ms = performance.now() - t0
  await app.close()
  return ms
}

function viaOwnTable (n = N, yaml = text): number {
  const t0 = performance.now()
  const table = compileRouteMap(yaml, 'bench-routes.yaml')
  const ms = performance.now() - t0
  if (table.routes.length !== n) throw new Error(`compiled ${table.routes.length} routes, expected ${n}`)
  return ms
}

const a: number[] = []
const b: number[] = []
for (let r = 0; r < 3; r++) { // interleaved rounds
  a.push(await viaHttpProxy())
  b.push(viaOwnTable())
}
const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1] as number
console.log(`${N} routes, median of 3 interleaved rounds:`)
console.log(`  @fastify/http-proxy: register ${N} prefixes + ready  ${med(a).toFixed(0)} ms  (${a.map((x) => x.toFixed(0)).join(', ')})`)
console.log(`  our table: compileRouteMap (a reload)             ${med(b).toFixed(0)} ms  (${b.map((x) => x.toFixed(0)).join(', ')})`)

const app = Fastify({ logger: false })
await app.register(httpProxy as never, { upstream: UPSTREAM, prefix: '/first' })
await app.ready()
try {
  await app.register(httpProxy as never, { upstream: UPSTREAM, prefix: '/added-by-a-reload' })
  console.log('  adding a prefix after ready: accepted')
} catch (err) {
  console.log(`  adding a prefix after ready: refused (${(err as { code?: string }).code ?? ''} ${(err as Error).message}): a reload would need a restart`)
}
await app.close()

console.log(`\n${BIG} routes, one attempt each:`)
console.log(`  our table: compileRouteMap  ${viaOwnTable(BIG, routesYaml(BIG)).toFixed(0)} ms`)
let phase = 'register'
const t0 = performance.now()
process.on('uncaughtException', (err) => {
  console.log(`  @fastify/http-proxy: ${BIG} prefixes failed in ${phase} after ${(performance.now() - t0).toFixed(0)} ms: ${err.name}: ${err.message}`)
  process.exit(0)
})
const big = Fastify({ logger: false })
for (let i = 0; i < BIG; i++) await big.register(httpProxy as never, { upstream: UPSTREAM, prefix: `/svc${i}` })
phase = 'ready'
await big.ready()
console.log(`  @fastify/http-proxy: ${BIG} prefixes registered + ready in ${(performance.now() - t0).toFixed(0)} ms`)
phase = 'close'
await big.close()
console.log(`  @fastify/http-proxy: closed after ${(performance.now() - t0).toFixed(0)} ms`)
