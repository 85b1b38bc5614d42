// bench/run.ts phase (e): the cost of metrics, the same gateway with them on and off.
import { freePort } from '../../test/helpers/redis-server.js'
import { BIN, NODE_FLAGS, ROOT, ROUNDS, WARMUP, note, out } from '../lib/config.js'
import { failures, load, type Ctx } from '../lib/context.js'
import { describeConfig, portcullisEnv } from '../lib/gateway.js'
import { answers, waitFor } from '../lib/http.js'
import { cpuSecondsOf, start, stop } from '../lib/procs.js'
import { fmtInt, fmtMs, median } from '../lib/stats.js'

// ---------------------------------------------------------------- (e) metrics on vs off
export async function metricsCost (ctx: Ctx): Promise<void> {
  out('## (e) Metrics cost: the same gateway with metrics on (ADMIN_PORT set, the default) and off (ADMIN_PORT=0)')
  // two fresh instances, identical but for ADMIN_PORT (a free port: metrics on; 0: no admin listener,
  // nothing measured), both on CPU 0. Not the portcullis target: by now it has been through the other
  // extras (a 10,000-route map, 100,000 tokens), and its larger heap would be billed to the metrics.
  const [port, onPort, adminPort] = [await freePort(), await freePort(), await freePort()]
  const env = portcullisEnv(ctx.redis.url, port, ctx.routes.file, { ISSUER: ctx.issuer, ADMIN_PORT: '0' })
  const onEnv = portcullisEnv(ctx.redis.url, onPort, ctx.routes.file, { ISSUER: ctx.issuer, ADMIN_PORT: String(adminPort) })
  const off = start('portcullis-metrics-off', process.execPath, [...NODE_FLAGS, BIN, 'serve'], { cpus: ctx.gatewayCpus, cwd: ROOT, env })
  const onProc = start('portcullis-metrics-on', process.execPath, [...NODE_FLAGS, BIN, 'serve'], { cpus: ctx.gatewayCpus, cwd: ROOT, env: onEnv })
  try {
    await waitFor('portcullis-metrics-off', off, answers(port, '/readyz', (s) => s === 200))
    await waitFor('portcullis-metrics-on', onProc, answers(onPort, '/readyz', (s) => s === 200))
    note(`metrics-off instance pid ${off.pid} on ${port} (${await describeConfig(env)}); metrics-on instance pid ${onProc.pid} on ${onPort} (ADMIN_PORT=${adminPort}, otherwise the same)`)
    await load(ctx, 'warmup-metrics-off', port, { durationS: WARMUP, tokensFile: ctx.tokensFile })
    await load(ctx, 'warmup-metrics-on', onPort, { durationS: WARMUP, tokensFile: ctx.tokensFile })
    const pairs = Math.max(ROUNDS, 3)
    const on: number[] = []; const offRps: number[] = []; const ratios: number[] = []; const cpuRatios: number[] = []
    for (let i = 0; i < pairs; i++) {
      // alternate which goes first, so drift on the machine hits both alike
      const order: Array<[string, number, number]> = [['on', onPort, onProc.pid!], ['off', port, off.pid!]]
      if (i % 2 === 1) order.reverse()
      const got: Record<string, { rps: number, cpuUs: number }> = {}
      for (const [label, p, pid] of order) {
        const c0 = await cpuSecondsOf(pid)
        const r = await load(ctx, `metrics-${label}-r${i + 1}`, p, { tokensFile: ctx.tokensFile })
        got[label] = { rps: r.rps, cpuUs: (await cpuSecondsOf(pid) - c0) * 1e6 / r.requests }
        note(`pair ${i + 1} metrics ${label.padEnd(3)} ${fmtInt(r.rps).padStart(7)} req/s  p99 ${fmtMs(r.p99)}  ${got[label].cpuUs.toFixed(0)} µs CPU/req${failures(r)}`)
      }
      on.push(got.on!.rps); offRps.push(got.off!.rps)
      ratios.push(got.on!.rps / got.off!.rps)
      cpuRatios.push(got.off!.cpuUs / got.on!.cpuUs)
    }
    const cost = 1 - median(ratios)
    const cpuCost = 1 - median(cpuRatios)
    out(`metrics on ${fmtInt(median(on))} req/s, off ${fmtInt(median(offRps))} req/s (medians of ${pairs} interleaved pairs); ` +
      `throughput cost ${(cost * 100).toFixed(1)} % (median of per-pair ratios), CPU-per-request cost ${(cpuCost * 100).toFixed(1)} %`)
    out()
    ctx.summary.push(`metrics cost ≤ 3% of throughput: ${cost <= 0.03 ? 'PASS' : 'FAIL'} (${(cost * 100).toFixed(1)} %: on ${fmtInt(median(on))} vs off ${fmtInt(median(offRps))} req/s; CPU per request ${(cpuCost * 100).toFixed(1)} %)`)
  } finally {
    await stop(off)
    await stop(onProc)
  }
}
