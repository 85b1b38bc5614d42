// bench/run.ts phase (d): the delay from a revocation on one instance to the refusal on another.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { CLIENT, DURATION, PATH, REVOCATIONS, ROOT, note, out } from '../lib/config.js'
import { load, type Ctx } from '../lib/context.js'
import { http } from '../lib/http.js'
import { fmtInt, percentile } from '../lib/stats.js'
import { mintTokens } from '../lib/tokens.js'

// ---------------------------------------------------------------- (d) revocation propagation
export function revocationMode (): { variable: string, replicated: string, strict: string } | null {
  // the gateway's env schema names the mode, if it has one
  const env = readFileSync(join(ROOT, 'src/config/env.ts'), 'utf8')
  const m = /(REVOCATION_MODE|REVOCATION)\s*:/.exec(env)
  if (m === null) return null
  const values = [...env.slice(m.index, m.index + 600).matchAll(/Type\.Literal\('([a-z-]+)'\)/g)].map((x) => x[1] as string)
  const replicated = values.find((v) => /replic|push|cache|local|stream/.test(v))
  const strict = values.find((v) => v !== replicated)
  return replicated === undefined || strict === undefined ? null : { variable: m[1] as string, replicated, strict }
}

export async function revocation (ctx: Ctx): Promise<void> {
  out('## (d) Revocation: revoke-to-refusal delay on a second instance')
  const mode = revocationMode()
  if (mode === null) {
    out('n/a: revocation is checked per request (strict mode)')
    out()
    ctx.goals.set('revocation', null, 'n/a, this gateway has no replicated mode: revocation is checked per request')
    return
  }
  // instance B is the portcullis-replicated target: same Redis, keys, issuer; tokens revoked through instance A
  const b = ctx.replicated
  if (b === null) throw new Error('the replicated instance was not started')
  const portB = b.port
  {
    note(`instance B: pid ${b.proc.pid} on ${portB} with ${b.setting}; revocations through POST /oauth/revoke on instance A (the portcullis target, default configuration); B is asked until it answers 401`)
    // one revocation: B accepts the token, A revokes it, B is asked back to back until it answers 401
    const timeOne = async (token: string): Promise<number | null> => {
      const ok = await http(portB, PATH, { headers: { authorization: `Bearer ${token}` } })
      if (ok.status !== 200) throw new Error(`instance B refused a fresh token: ${ok.status} ${ok.body}`)
      const r = await http(ctx.portcullisPort, '/oauth/revoke', {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: CLIENT, token, token_type_hint: 'access_token' }).toString()
      })
      if (r.status !== 200) throw new Error(`revoke failed: ${r.status} ${r.body}`)
      const t0 = performance.now()
      for (;;) {
        const x = await http(portB, PATH, { headers: { authorization: `Bearer ${token}` } })
        if (x.status === 401) return performance.now() - t0
        if (performance.now() - t0 > 10_000) return null
      }
    }
    const report = (label: string, delays: number[], timeouts: number): { p99: number, text: string } => {
      const p50 = percentile(delays, 50); const p99 = percentile(delays, 99); const max = Math.max(...delays)
      const text = `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${delays.length} revocations${timeouts > 0 ? `, ${timeouts} NOT refused within 10 s` : ''}`
      out(`${label}: ${text}`)
      return { p99: timeouts > 0 ? Infinity : p99, text }
    }
    // quiet: nothing else runs
    const quietDelays: number[] = []; let quietTimeouts = 0
    for (const token of await mintTokens(ctx, REVOCATIONS)) {
      const d = await timeOne(token)
      if (d === null) quietTimeouts++; else quietDelays.push(d)
    }
    const quiet = report('quiet', quietDelays, quietTimeouts)
    // under load: wrk keeps instance B busy (50 connections) while revocations run, until the run ends;
    // the delay then includes B's queueing latency for the polling request itself (an upper bound)
    const loadedDelays: number[] = []; let loadedTimeouts = 0
    const tokens = await mintTokens(ctx, REVOCATIONS)
    const busy = load(ctx, 'revocation-load', portB, { durationS: DURATION })
    let done = false
    void busy.finally(() => { done = true })
    await sleep(1000)
    for (const token of tokens) {
      if (done) break
      const d = await timeOne(token)
      if (d === null) loadedTimeouts++; else loadedDelays.push(d)
    }
    const busyRes = await busy
    const loaded = report(`while instance B serves ${fmtInt(busyRes.rps)} req/s`, loadedDelays, loadedTimeouts)
    out('(delay: from the revoke response on A to the first 401 on B)')
    out()
    ctx.goals.set('revocation', quiet.p99 <= 50, `${b.setting}, quiet ${quiet.text}; under load (an upper bound, B's own queueing included) ${loaded.p99 <= 50 ? 'within' : 'OVER'} 50 ms: ${loaded.text}`)
  }
}
