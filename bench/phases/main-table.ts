// bench/run.ts's main table: interleaved throughput rounds of every target, and the ratios judged.
import { CONNECTIONS, DURATION, NO_AUTH, ROUNDS, WARMUP, note, out, type Target } from '../lib/config.js'
import { failures, load, settled, type Ctx } from '../lib/context.js'
import type { LoadResult } from '../lib/load.js'
import { cpuSecondsOf } from '../lib/procs.js'
import { fmtInt, fmtMs, fmtRatio, median, table } from '../lib/stats.js'

// ---------------------------------------------------------------- main table
export async function mainRounds (ctx: Ctx, targets: Target[]): Promise<void> {
  out(`## Throughput: ${ROUNDS} interleaved round(s) of ${targets.join(' → ')}`)
  // Warm-up: a Node gateway needs several seconds under load before V8 has optimised its hot path
  // (measured: Portcullis doubles its throughput over its first ~10 s). The C targets need none.
  const warm: string[] = []
  for (const t of targets) {
    const seconds = t === 'direct' || t === 'haproxy-jwt' ? Math.min(WARMUP, 3) : WARMUP
    await load(ctx, `warmup-${t}`, ctx.ports[t] as number, { durationS: seconds, tokensFile: NO_AUTH.has(t) ? null : ctx.tokensFile })
    warm.push(`${t} ${seconds} s`)
  }
  note(`warm-up: ${warm.join(', ')}`)
  for (const t of targets) ctx.results[t] = []
  // CPU time the process under load used per request (for `direct`: the upstream's). It does not depend on
  // how much of CPU 0 the target got, so it stays meaningful when other work competes for the machine.
  const cpuUs: Record<string, number[]> = {}
  let previous: number | null = null
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of targets) {
      const pid = ctx.pids[t] as number
      // every target shares the gateway CPU: the one measured before must be idle again first (the
      // naive stack kept working ~1 s past its run, and whichever target came next paid for it)
      if (previous !== null && previous !== pid) await settled(previous)
      previous = pid
      const c0 = await cpuSecondsOf(pid)
      const res = await load(ctx, `${t}-r${r + 1}`, ctx.ports[t] as number, { tokensFile: NO_AUTH.has(t) ? null : ctx.tokensFile })
      const perReq = (await cpuSecondsOf(pid) - c0) * 1e6 / res.requests
      ;(cpuUs[t] ??= []).push(perReq)
      ctx.results[t]?.push(res)
      note(`round ${r + 1} ${t.padEnd(21)} ${fmtInt(res.rps).padStart(7)} req/s  p50 ${fmtMs(res.p50)}  p99 ${fmtMs(res.p99)}  ${perReq.toFixed(0)} µs CPU/req${failures(res)}`)
    }
  }
  const ratio = (t: Target, base: Target): number => {
    const a = ctx.results[t]; const b = ctx.results[base]
    if (a === undefined || b === undefined) return NaN
    return median(a.map((x, i) => x.rps / (b[i]?.rps ?? NaN)))
  }
  const rows = targets.map((t) => {
    const rs = ctx.results[t] as LoadResult[]
    const failed = rs.reduce((n, x) => n + x.statusErrors + x.socketErrors, 0)
    return [t, fmtInt(median(rs.map((x) => x.rps))), fmtMs(median(rs.map((x) => x.p50))), fmtMs(median(rs.map((x) => x.p99))),
      fmtRatio(ratio(t, 'direct')), fmtRatio(ratio(t, 'naive-stack')), fmtRatio(ratio(t, 'haproxy-jwt')), fmtInt(median(cpuUs[t] ?? [])), String(failed)]
  })
  out()
  out(table(['target', 'req/s (median)', 'p50', 'p99', '÷ direct', '÷ naive-stack', '÷ haproxy-jwt', 'CPU µs/req', 'failed'], rows))
  out(`(ratios: median over rounds of the per-round req/s ratio; CPU µs/req: CPU time of the target process per request (direct: the upstream's); ${CONNECTIONS} connections, ${DURATION} s per run, ${ROUNDS} round(s))`)
  const cpuRatio = (t: Target, base: Target): number => median((cpuUs[base] ?? []).map((b, i) => b / (cpuUs[t]?.[i] ?? NaN)))
  out(`CPU-time ratios (base CPU/req ÷ portcullis CPU/req, i.e. requests per CPU-second relative to the base): portcullis vs naive-stack ${fmtRatio(cpuRatio('portcullis', 'naive-stack'))}, vs fastify-bare ${fmtRatio(cpuRatio('portcullis', 'fastify-bare'))}, vs haproxy-jwt ${fmtRatio(cpuRatio('portcullis', 'haproxy-jwt'))}${targets.includes('portcullis-replicated') ? `; portcullis-replicated vs naive-stack ${fmtRatio(cpuRatio('portcullis-replicated', 'naive-stack'))}, vs fastify-bare ${fmtRatio(cpuRatio('portcullis-replicated', 'fastify-bare'))}, vs haproxy-jwt ${fmtRatio(cpuRatio('portcullis-replicated', 'haproxy-jwt'))}` : ''}`)
  out()
  const vsNaive = ratio('portcullis', 'naive-stack')
  const vsBare = ratio('portcullis', 'fastify-bare')
  const vsHa = ratio('portcullis', 'haproxy-jwt')
  const verdict = (x: number, goal: number): string => !Number.isFinite(x) ? 'not measured' : x >= goal ? `met (${fmtRatio(x)})` : `MISSED (${fmtRatio(x)}, ${((1 - x / goal) * 100).toFixed(0)} % short)`
  const short = (x: number, goal: number): string => `×${fmtRatio(x)}${x >= goal ? '' : `, ${((1 - x / goal) * 100).toFixed(0)} % short`}`
  // the other portcullis targets, for the record (their REVOCATION_MODE set explicitly)
  const others = (base: Target): string => (['portcullis-strict', 'portcullis-replicated'] as const)
    .filter((t) => targets.includes(t)).map((t) => `; ${t} ×${fmtRatio(ratio(t, base))}`).join('')
  const cpuNote = (base: Target): string => `; CPU per request ×${fmtRatio(cpuRatio('portcullis', base))}`
  if (Number.isFinite(vsBare)) ctx.goals.set('bare', vsBare >= 0.95, `${short(vsBare, 0.95)}${others('fastify-bare')}${cpuNote('fastify-bare')}`)
  if (Number.isFinite(vsHa)) ctx.goals.set('haproxy', vsHa >= 1.0, `${short(vsHa, 1.0)}${others('haproxy-jwt')}${cpuNote('haproxy-jwt')}`)
  if (targets.includes('fastify-bare')) {
    // per round: portcullis p99 ÷ fastify-bare p99, median over rounds
    const p99x = median((ctx.results.portcullis ?? []).map((x, i) => x.p99 / (ctx.results['fastify-bare']?.[i]?.p99 ?? NaN)))
    const p99 = (t: Target): string => fmtMs(median((ctx.results[t] ?? []).map((x) => x.p99)))
    ctx.goals.set('p99', p99x <= 1.5, `×${fmtRatio(p99x)} (portcullis ${p99('portcullis')}, fastify-bare ${p99('fastify-bare')}${targets.includes('haproxy-jwt') ? `, haproxy-jwt ${p99('haproxy-jwt')}` : ''}; median of per-round ratios)`)
  }
  if (Number.isFinite(vsNaive)) ctx.summary.push(`portcullis ÷ naive-stack ≥ 2.5 (issue 10's table, issue 6): ${vsNaive >= 2.5 ? 'PASS' : 'FAIL'} (${short(vsNaive, 2.5)})`)
}
