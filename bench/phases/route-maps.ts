// bench/run.ts phase (b): 10 routes against the big route map, and reloading the big map under load.
import { setTimeout as sleep } from 'node:timers/promises'
import { DURATION, EXTRA_ROUNDS, ROUTE_COUNT, note, out, routesYaml } from '../lib/config.js'
import { failures, load, settled, type Ctx } from '../lib/context.js'
import { http } from '../lib/http.js'
import type { LoadResult } from '../lib/load.js'
import { probePath } from '../lib/routes.js'
import { fmtInt, fmtMs, fmtRatio, median } from '../lib/stats.js'

// ---------------------------------------------------------------- (b) route maps
async function reloadTo (ctx: Ctx, extra: number, expectNew: (s: number) => boolean): Promise<number> {
  ctx.routes.swap(routesYaml(ctx.upstreamPort, extra))
  const probe = probePath(Math.max(extra, ROUTE_COUNT - 1))
  const t0 = performance.now()
  process.kill(ctx.portcullis.pid, 'SIGHUP')
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const r = await http(ctx.portcullisPort, probe)
    if (expectNew(r.status)) return performance.now() - t0
  }
  throw new Error(`the gateway did not serve the ${extra + 1}-route map within 60 s`)
}

export async function routeMaps (ctx: Ctx): Promise<void> {
  const big = ROUTE_COUNT - 1 // plus /orders/*
  out(`## (b) Route map: 10 routes against ${fmtInt(ROUTE_COUNT)} routes, and reloading the big map under load`)
  // (a) leaves the gateway working on its last logins for a while: start from an idle gateway
  note(`gateway idle after ${(await settled(ctx.portcullis.pid) / 1000).toFixed(1)} s`)
  // the file compiled in-process, as a reference for the parse/validate/compile cost alone
  const { compileRouteMap } = await import('../../src/config/route-map-loader.js')
  const bigText = routesYaml(ctx.upstreamPort, big)
  const compileMs: number[] = []
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now()
    compileRouteMap(bigText, 'bench-routes.yaml')
    compileMs.push(performance.now() - t0)
  }
  const small: LoadResult[] = []; const large: LoadResult[] = []; const reloadMs: number[] = []; const backMs: number[] = []
  let failedDuringReload = 0
  const is404 = (s: number): boolean => s === 404
  const isRouted = (s: number): boolean => s !== 404
  for (let r = 0; r < EXTRA_ROUNDS; r++) {
    const s = await load(ctx, `routes10-r${r + 1}`, ctx.portcullisPort)
    small.push(s)
    // reload to the big map in the middle of a load run: no request may fail
    const reloadRunS = Math.max(3, Math.ceil(DURATION / 2))
    const during = load(ctx, `reload-r${r + 1}`, ctx.portcullisPort, { durationS: reloadRunS, countStatus: true })
    await sleep(reloadRunS * 1000 / 3)
    const ms = await reloadTo(ctx, big, isRouted)
    reloadMs.push(ms)
    const d = await during
    failedDuringReload += d.statusErrors + d.socketErrors
    const settleMs = await settled(ctx.portcullis.pid)
    const l = await load(ctx, `routes${ROUTE_COUNT}-r${r + 1}`, ctx.portcullisPort)
    large.push(l)
    backMs.push(await reloadTo(ctx, 9, is404))
    await settled(ctx.portcullis.pid)
    note(`round ${r + 1}: 10 routes ${fmtInt(s.rps)} req/s · ${fmtInt(ROUTE_COUNT)} routes ${fmtInt(l.rps)} req/s (×${fmtRatio(l.rps / s.rps)}) · reload ${ms.toFixed(0)} ms under load${failures(d) === '' ? ', no failed request' : failures(d)}; idle again ${(settleMs / 1000).toFixed(1)} s after that run (the access diff is logged after the swap)`)
  }
  const x = median(small.map((s, i) => (large[i]?.rps ?? NaN) / s.rps))
  const rl = median(reloadMs)
  out(`throughput ${fmtInt(ROUTE_COUNT)} routes / 10 routes: ×${fmtRatio(x)} (median of per-round ratios; p99 ${fmtMs(median(small.map((q) => q.p99)))} → ${fmtMs(median(large.map((q) => q.p99)))})`)
  out(`reload of the ${fmtInt(ROUTE_COUNT)}-route map: median ${rl.toFixed(0)} ms, max ${Math.max(...reloadMs).toFixed(0)} ms, measured from SIGHUP until the gateway answers a route that only the new map has (polled under load); back to 10 routes: ${median(backMs).toFixed(0)} ms`)
  out(`compileRouteMap of the same file in-process (parse + validate + compile, no load): median ${median(compileMs).toFixed(0)} ms`)
  out(`failed requests in the runs that spanned a reload: ${failedDuringReload}`)
  out()
  ctx.goals.set('routes', x >= 0.95, `×${fmtRatio(x)} (median of per-round ratios)`)
  ctx.goals.set('reload', rl <= 300 && failedDuringReload === 0, `median ${rl.toFixed(0)} ms, max ${Math.max(...reloadMs).toFixed(0)} ms, ${failedDuringReload} failed requests; in-process compile ${median(compileMs).toFixed(0)} ms`)
}
