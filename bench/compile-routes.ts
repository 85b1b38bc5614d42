// Compile cost of the bench's big route map, in-process, without load: parse + validate + compile
// (compileRouteMap) and the access diff a reload logs (src/access/diff.ts). For CPU profiles:
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/compile-routes.ts
// Knobs: BENCH_ROUTES (10000), BENCH_RUNS (5).
import { compileRouteMap } from '../src/config/route-map-loader.js'
import { accessDiff } from '../src/access/diff.js'
import { routesYaml } from './lib/routes.js'

const ROUTES = Number(process.env.BENCH_ROUTES ?? 10_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const big = routesYaml(9000, ROUTES - 1)
const small = routesYaml(9000, 9)
const compile: number[] = []; const diff: number[] = []
// CPU time of this thread's process (stable when other work competes for the machine), in ms
const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }
const smallTable = compileRouteMap(small, 'small.yaml')
for (let i = 0; i < RUNS; i++) {
  const t0 = cpuMs()
  const table = compileRouteMap(big, 'bench-routes.yaml')
  const t1 = cpuMs()
  accessDiff(smallTable, table)
  const t2 = cpuMs()
  compile.push(t1 - t0); diff.push(t2 - t1)
}
const fmt = (xs: number[]): string => `${xs.map((x) => x.toFixed(0)).join(' ')} (median ${[...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(0)})`
console.log(`${ROUTES} routes, CPU ms per run: compileRouteMap ${fmt(compile)}; access diff 10 → ${ROUTES} ${fmt(diff)}`)
