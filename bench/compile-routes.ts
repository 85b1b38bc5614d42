// Compile cost of the bench's big route map, in-process, without load: parse + validate + compile
// (compileRouteMap), the map's version (hashed in the reload's path: the `routes_reloaded` line
// carries it) and the access diff a reload logs (src/access/diff.ts). The first run is cold, as a
// gateway's first reload of a big map is; the median is warm. For CPU profiles:
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/compile-routes.ts
// Knobs: BENCH_ROUTES (10000), BENCH_RUNS (5). Then the reload listener once: how long it holds the event loop.
import { compileRouteMap } from '../src/config/route-map-loader.js'
import { accessDiff } from '../src/access/diff.js'
import { routesYaml } from './lib/routes.js'

const ROUTES = Number(process.env.BENCH_ROUTES ?? 10_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const big = routesYaml(9000, ROUTES - 1)
const small = routesYaml(9000, 9)
const compile: number[] = []; const version: number[] = []; const diff: number[] = []
// CPU time of this thread's process (stable when other work competes for the machine), in ms
const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }
const smallTable = compileRouteMap(small, 'small.yaml')
for (let i = 0; i < RUNS; i++) {
  const t0 = cpuMs()
  const table = compileRouteMap(big, 'bench-routes.yaml')
  const t1 = cpuMs()
  void table.version
  const tv = cpuMs()
  accessDiff(smallTable, table)
  const t2 = cpuMs()
  compile.push(t1 - t0); version.push(tv - t1); diff.push(t2 - tv)
}
const fmt = (xs: number[]): string => `${xs.map((x) => x.toFixed(0)).join(' ')} (median ${[...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(0)})`
console.log(`${ROUTES} routes, CPU ms per run: compileRouteMap ${fmt(compile)}; version ${fmt(version)}; access diff 10 → ${ROUTES} ${fmt(diff)}`)

// The reload's own listener (src/access/reload-log.ts, as server.ts registers it): how long it holds
// the event loop, measured as the longest gap between the ticks of a 1 ms timer until its last line.
const { accessDiffOnSwap } = await import('../src/access/reload-log.js')
let done = false
const silent = { info: (o: { reason?: string }) => { if (o.reason === 'routes_reload_diffed') done = true }, warn: () => {}, error: () => {} }
const bigTable = compileRouteMap(big, 'bench-routes.yaml')
let last = performance.now(); let longest = 0
const ticker = setInterval(() => { const now = performance.now(); longest = Math.max(longest, now - last); last = now }, 1)
await new Promise((resolve) => setTimeout(resolve, 20))
const t0 = performance.now(); last = t0; longest = 0
accessDiffOnSwap(silent)(bigTable, smallTable)
const returned = performance.now() - t0
while (!done) await new Promise((resolve) => setTimeout(resolve, 5))
clearInterval(ticker)
console.log(`reload listener (access diff 10 → ${ROUTES}, logged): returned after ${returned.toFixed(0)} ms, done after ${(performance.now() - t0).toFixed(0)} ms; longest event-loop gap ${longest.toFixed(0)} ms`)
