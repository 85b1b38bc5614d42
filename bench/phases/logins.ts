// bench/run.ts phase (a): proxied p99 with logins alongside, and logins per second on every core.
import { cpus } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from '../../test/helpers/redis-server.js'
import {
  BIN, CLIENT, CONNECTIONS, CONTROL_TEXT, DURATION, LOGIN_CONNECTIONS, LOGIN_CONTROL, LOGIN_PAIRS, LOGIN_PAIR_S,
  LOGIN_PROXY_SHARE, LOGIN_RATE, NODE_FLAGS, PASSWORD, PROFILE, ROOT, SCOPE, USER, WARMUP, note, out
} from '../lib/config.js'
import { failures, load, settled, type Ctx } from '../lib/context.js'
import { describeConfig, portcullisEnv } from '../lib/gateway.js'
import { answers, http, waitFor } from '../lib/http.js'
import { loadRun, type LoadResult } from '../lib/load.js'
import { start, stop, type Proc } from '../lib/procs.js'
import { fmtInt, fmtMs, fmtRatio, median, percentile } from '../lib/stats.js'

// ---------------------------------------------------------------- (a) logins alongside
/**
 * A second instance with the default configuration (BCRYPT_THREADS: one worker per core) on every core,
 * same Redis, keys, issuer and route map as the main one; stopped by the caller.
 */
async function allCoreInstance (ctx: Ctx, name: string, allCpus: string | null): Promise<{ p: Proc, port: number, config: string }> {
  const nproc = cpus().length
  const port = await freePort()
  const env = portcullisEnv(ctx.redis.url, port, ctx.routes.file, { ISSUER: ctx.issuer, ADMIN_PORT: '0' })
  const profileArgs = PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(ctx.work, `profile-${name}`)] : []
  const p = start(name, process.execPath, [...NODE_FLAGS, ...profileArgs, BIN, 'serve'], { cpus: allCpus, cwd: ROOT, env })
  await waitFor(name, p, answers(port, '/readyz', (s) => s === 200))
  // describeConfig parses in this process, pinned to one CPU; the instance sees every core, and the
  // default BCRYPT_THREADS is one worker per core it may run on (os.availableParallelism())
  let config = await describeConfig(env)
  if (env.BCRYPT_THREADS === undefined) config = config.replace(/BCRYPT_THREADS=\d+/, `BCRYPT_THREADS=${nproc} (the default, one per core)`)
  note(`instance pid ${p.pid} on ${port}, CPUs ${allCpus ?? 'not pinned'} (${config})`)
  return { p, port, config }
}

const loginBody = (): string => new URLSearchParams({ grant_type: LOGIN_CONTROL === 'bad-grant' ? 'bogus' : 'password', client_id: CLIENT, username: USER, password: PASSWORD, scope: SCOPE }).toString()

/**
 * Issue 10 §4, "logins never stall proxied traffic": proxied p99 with LOGIN_RATE logins/s alongside,
 * against the same proxied load without them. 20 logins/s of bcrypt at cost 10 are about one core of
 * CPU (~50-70 ms each), so on the one pinned core of the throughput runs they cannot be served at all
 * (8.5/s were, measured); and a closed loop that saturates the event loop measures CPU share, not
 * stalls. So: an instance on every core (bcrypt's worker threads, one per core, are what §4 is about),
 * and an open-loop proxied load at LOGIN_PROXY_SHARE of that instance's own closed-loop throughput:
 * a stall of the event loop (a hash on it, or a worker starving it) shows as p99, and the logins have
 * the CPU they need.
 */
export async function loginLoad (ctx: Ctx, allCpus: string | null): Promise<void> {
  out(`## (a) Proxied p99 with ${LOGIN_RATE} logins/s alongside (password grant, bcrypt at the gateway's BCRYPT_COST)`)
  if (ctx.tool !== 'wrk') {
    out('not measured: the logins are sent by a second wrk (bench/wrk.lua BENCH_LOGIN_BODY); this run has no wrk')
    out()
    return
  }
  const inst = await allCoreInstance(ctx, 'portcullis-logins-alongside', allCpus)
  try {
    await load(ctx, 'login-warmup', inst.port, { durationS: WARMUP })
    const capacity = await load(ctx, 'login-capacity', inst.port)
    const rate = Math.max(100, Math.round(capacity.rps * LOGIN_PROXY_SHARE / 100) * 100)
    note(`this instance, closed loop: ${fmtInt(capacity.rps)} req/s (p99 ${fmtMs(capacity.p99)}); proxied load below: ${fmtInt(rate)} req/s offered (${(LOGIN_PROXY_SHARE * 100).toFixed(0)} %), open loop, ${CONNECTIONS} connections`)
    // the logins warm up too (not measured): every bcrypt worker started and its code compiled, the
    // login path's code optimised, as the proxied path's is by the warm-up above; round 1 otherwise
    // measured the pool's growth (its p99 was 3-5 times the later rounds')
    await Promise.all([
      load(ctx, 'login-warmup-busy', inst.port, { rate, durationS: WARMUP }),
      loadRun({ port: inst.port, path: '/oauth/token', tokensFile: null, connections: LOGIN_CONNECTIONS, durationS: WARMUP, cpus: ctx.toolCpus, label: 'logins-warmup', rate: LOGIN_RATE, loginBody: loginBody() }, 'wrk')
    ])
    const quiet: LoadResult[] = []; const busy: LoadResult[] = []; const logins: LoadResult[] = []
    for (let r = 0; r < LOGIN_PAIRS; r++) {
      // the last logins of the pair before are answered first: the quiet run starts from an idle gateway
      await settled(inst.p.pid)
      const q = await load(ctx, `login-quiet-r${r + 1}`, inst.port, { countStatus: true, rate, durationS: LOGIN_PAIR_S })
      quiet.push(q)
      const hashing = LOGIN_CONTROL === 'hash-load' ? await hashLoad(allCpus, r + 1) : null
      // both wrk processes start together and run LOGIN_PAIR_S seconds
      const [b, l] = await Promise.all([
        load(ctx, `login-busy-r${r + 1}`, inst.port, { countStatus: true, rate, durationS: LOGIN_PAIR_S }),
        hashing !== null
          ? hashing()
          : loadRun({ port: LOGIN_CONTROL === 'wrk-elsewhere' ? ctx.upstreamPort : inst.port, path: '/oauth/token', tokensFile: null, connections: LOGIN_CONNECTIONS, durationS: LOGIN_PAIR_S, cpus: ctx.toolCpus, label: `logins-r${r + 1}`, rate: LOGIN_RATE, loginBody: loginBody(), countStatus: true }, 'wrk')
      ])
      busy.push(b); logins.push(l)
      note(`pair ${r + 1}: quiet p99 ${fmtMs(q.p99)} (${fmtInt(q.rps)} req/s) · with logins p99 ${fmtMs(b.p99)} (${fmtInt(b.rps)} req/s)${failures(q)}${failures(b)} · ${((l.requests - l.statusErrors - l.socketErrors) / LOGIN_PAIR_S).toFixed(1)} logins/s ok, p50 ${fmtMs(l.p50)}${failures(l)}`)
    }
    const qp99 = median(quiet.map((x) => x.p99)); const bp99 = median(busy.map((x) => x.p99))
    const x = median(quiet.map((q, i) => (busy[i]?.p99 ?? NaN) / q.p99))
    out(`quiet p99 ${fmtMs(qp99)}, with logins p99 ${fmtMs(bp99)} (medians of ${LOGIN_PAIRS} pairs of ${LOGIN_PAIR_S} s runs): ×${fmtRatio(x)} (median of per-pair ratios; ratio of the medians ×${fmtRatio(bp99 / qp99)}); ${fmtInt(rate)} req/s offered, ${fmtInt(median(quiet.map((q) => q.rps)))} → ${fmtInt(median(busy.map((q) => q.rps)))} req/s served`)
    const okLogins = logins.reduce((n, l) => n + l.requests - l.statusErrors - l.socketErrors, 0)
    const failedLogins = logins.reduce((n, l) => n + l.statusErrors + l.socketErrors, 0)
    const loginP50 = median(logins.map((l) => l.p50)); const loginP99 = median(logins.map((l) => l.p99))
    out(`logins: ${LOGIN_RATE}/s offered by a second wrk (bench/wrk.lua BENCH_LOGIN_BODY, ${LOGIN_CONNECTIONS} connections), ${okLogins} ok, ${failedLogins} failed; login latency p50 ${fmtMs(loginP50)}, p99 ${fmtMs(loginP99)} (medians over pairs)`)
    const served = okLogins / (LOGIN_PAIRS * LOGIN_PAIR_S)
    const sustained = served >= 0.95 * LOGIN_RATE && failedLogins === 0
    const failedProxied = [...quiet, ...busy].reduce((n, l) => n + l.statusErrors + l.socketErrors, 0)
    const kept = median(busy.map((b) => b.rps)) >= 0.97 * rate
    out(`logins completed during the measured runs: ${served.toFixed(1)}/s of ${LOGIN_RATE}/s offered${sustained ? '' : ' (the gateway did not keep up with the login rate)'}`)
    out()
    if (LOGIN_CONTROL !== null) {
      ctx.goals.set('logins', null, `control run (BENCH_LOGIN_CONTROL=${LOGIN_CONTROL}: ${CONTROL_TEXT[LOGIN_CONTROL]}): ×${fmtRatio(x)} (${fmtMs(bp99)} vs ${fmtMs(qp99)})`)
      return
    }
    ctx.goals.set('logins', x <= 1.5 && sustained && kept && failedProxied === 0, `×${fmtRatio(x)} (${fmtMs(bp99)} vs ${fmtMs(qp99)})${sustained ? '' : `, but only ${served.toFixed(1)} logins/s were served of ${LOGIN_RATE} offered`}${kept ? '' : ', the offered proxied rate was not kept'}${failedProxied === 0 ? '' : `, ${failedProxied} proxied requests failed`}; ${fmtInt(rate)} proxied req/s offered (${(LOGIN_PROXY_SHARE * 100).toFixed(0)} % of the instance's ${fmtInt(capacity.rps)}), ${served.toFixed(1)} logins/s served, login p50 ${fmtMs(loginP50)}; ${inst.config.match(/BCRYPT_THREADS=[^;)]*\)?/)?.[0] ?? ''}`)
  } finally {
    await stop(inst.p)
  }
}

/**
 * BENCH_LOGIN_CONTROL=hash-load's stand-in for one busy run's logins: starts bench/hash-load.ts, waits
 * until it is ready and its start-up is over, and returns what starts its hashing (SIGUSR2) and
 * resolves with the compares done, as a LoadResult.
 */
async function hashLoad (allCpus: string | null, pair: number): Promise<() => Promise<LoadResult>> {
  const script = join(ROOT, 'bench', 'hash-load.ts')
  const p = start(`hash-load-r${pair}`, 'nice', ['-n', '19', process.execPath, '--import', 'tsx', script, String(LOGIN_RATE), String(LOGIN_PAIR_S)], { cpus: allCpus, cwd: ROOT })
  await waitFor('bench/hash-load.ts', p, async () => p.output().includes('ready'))
  await sleep(1000)
  return async () => {
    process.kill(p.pid, 'SIGUSR2')
    const code = await p.exited
    await p.drained
    const done = Number(/hash-load: (\d+) compares/.exec(p.output())?.[1] ?? NaN)
    if (code !== 0 || !Number.isFinite(done)) throw new Error(`bench/hash-load.ts failed (exit ${code}): ${p.output().slice(-400)}`)
    return { rps: done / LOGIN_PAIR_S, requests: done, p50: NaN, p90: NaN, p99: NaN, max: NaN, statusErrors: 0, socketErrors: 0, statuses: {} }
  }
}

// ---------------------------------------------------------------- (a) logins per second on every core
/**
 * How many password-grant logins per second one gateway serves when it has every core (issue 10 §4):
 * a separate instance with the default configuration (BCRYPT_THREADS: one worker per core), not pinned
 * to CPU 0, kept busy by 4 logins in flight per core for one run.
 */
export async function loginCapacity (ctx: Ctx, allCpus: string | null): Promise<void> {
  if (LOGIN_CONTROL === 'bad-grant' || LOGIN_CONTROL === 'wrk-elsewhere') return // its requests are not logins
  const nproc = cpus().length
  out(`## (a) Logins per second with ${nproc} cores (password grant, bcrypt at the gateway's BCRYPT_COST, closed loop)`)
  const inst = await allCoreInstance(ctx, 'portcullis-logins', allCpus)
  try {
    const port = inst.port
    const body = loginBody()
    const login = async (): Promise<number> => (await http(port, '/oauth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })).status
    const inFlight = 4 * nproc
    await Promise.all(Array.from({ length: inFlight }, login)) // every worker thread started and warm
    let ok = 0; let failed = 0
    const lat: number[] = []
    const t0 = performance.now(); const end = t0 + DURATION * 1000
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        const t = performance.now()
        const status = await login().catch(() => 0)
        if (status === 200) { ok++; lat.push(performance.now() - t) } else failed++
      }
    }))
    const rate = ok / ((performance.now() - t0) / 1000)
    out(`${rate.toFixed(1)} logins/s (${ok} ok, ${failed} failed, ${inFlight} in flight, ${DURATION} s); latency p50 ${fmtMs(percentile(lat, 50) * 1000)}, p99 ${fmtMs(percentile(lat, 99) * 1000)}`)
    out()
    ctx.goals.set('loginRate', null, `${rate.toFixed(1)} logins/s (${inst.config}; ${inFlight} in flight, ${failed} failed)`)
  } finally {
    await stop(inst.p)
  }
}
