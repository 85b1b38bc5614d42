// Sizing (issue 11 item 11): how many Redis commands the gateway sends per proxied request, per login
// (password grant) and per refresh, in each revocation mode, MEASURED with MONITOR against a real
// gateway and a private redis-server; then how many of those one Redis shard executes per second
// (redis-benchmark, loopback, the same commands, EVALSHA of the gateway's own scripts); and the
// throughput of 1, 2 and 3 gateway instances on this machine (wrk, loopback, one wrk per instance).
// A proxied request is counted twice: on a route with the default batched rate limit (`/orders/*`)
// and on the same route with `mode: exact` (`/exact/*`, one counter script per request).
// Everything is bounded in time and stopped by PID (lib/procs.ts). bench/README.md explains it.
//
//   npx tsx bench/redis-commands.ts                 # about 3 minutes
//   BENCH_SCALE=0 npx tsx bench/redis-commands.ts   # without the 1/2/3-instance runs
//   BENCH_TOPOLOGIES=standalone npx tsx bench/redis-commands.ts   # count on standalone only (default: also
//     on a Sentinel set and a 3+3 Cluster from test/helpers/redis-topology.ts, MONITOR on every master)
// Knobs: BENCH_REQUESTS (proxied requests counted, 300), BENCH_LOGINS (30), BENCH_REFRESHES (30),
// BENCH_OPS (redis-benchmark operations per command, 200000), BENCH_DURATION (s per wrk run, 10),
// BENCH_WARMUP (s per instance, 8), BENCH_CONNECTIONS (wrk connections per instance, 32).
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, startRedis, type RedisHandle } from '../test/helpers/redis-server.js'
import { startCluster, startSentinel } from '../test/helpers/redis-topology.js'
import { cpuSecondsOf, run, setLogDir, start, stop, stopAll, type Proc } from './lib/procs.js'
import { loadRun } from './lib/load.js'
import { benchmark, fmt, monitored, perOperation, requestCommands, type Seen } from './lib/redis-count.js'
import { BENCH_RATE_LIMIT, BENCH_SCOPE, routesYaml } from './lib/routes.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const BIN = join(ROOT, 'bin', 'portcullis.js')
const num = (name: string, def: number): number => {
  const raw = process.env[name]
  const n = raw === undefined || raw === '' ? def : Number(raw)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a whole number, got ${raw}`)
  return n
}
const REQUESTS = num('BENCH_REQUESTS', 300)
const LOGINS = num('BENCH_LOGINS', 30)
const REFRESHES = num('BENCH_REFRESHES', 30)
const OPS = num('BENCH_OPS', 200_000)
const DURATION = num('BENCH_DURATION', 10)
const WARMUP = num('BENCH_WARMUP', 8)
const CONNECTIONS = num('BENCH_CONNECTIONS', 32)
const SCALE = process.env.BENCH_SCALE !== '0'
const TOPOLOGIES = (process.env.BENCH_TOPOLOGIES ?? 'standalone,sentinel,cluster').split(',').map((x) => x.trim())
const USER = 'bench'
const PASSWORD = 'bench-password-0123'
const CLIENT = 'bench-app'
const PATH = '/orders/42' // rate limit `mode: batched` (the default)
const PATH_EXACT = '/exact/42' // the same route with `mode: exact` (one counter command per request)
const SESSION_SECRET = randomBytes(32).toString('base64') // the same for every instance
const out = (s = ''): void => { process.stdout.write(s + '\n') }

// ---------------------------------------------------------------- processes
interface Gateway { proc: Proc, port: number }

async function waitReady (port: number, proc: Proc): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (!proc.alive()) throw new Error(`${proc.name} exited:\n${proc.output().slice(-1500)}`)
    try { if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return } catch { /* not yet */ }
    await sleep(50)
  }
  throw new Error(`${proc.name} not ready:\n${proc.output().slice(-1500)}`)
}

/** The Redis a gateway is given (its mode variables) and the data nodes MONITOR watches (the masters). */
interface Target { name: string, env: Record<string, string>, masters: () => Promise<number[]> }

async function startGateway (name: string, target: Target, routesFile: string, issuer: string | null, mode: string): Promise<Gateway> {
  const port = await freePort()
  const proc = start(name, process.execPath, [BIN, 'serve'], {
    cpus: null,
    cwd: ROOT,
    env: {
      NODE_ENV: 'production',
      ...target.env,
      ROUTES_FILE: routesFile,
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: issuer ?? `http://127.0.0.1:${port}`,
      ADMIN_PORT: '0',
      LOG_LEVEL: 'warn',
      TOKEN_RATE_LIMIT: '1000000',
      LOGIN_MAX_FAILURES: '1000000',
      REVOCATION_MODE: mode,
      SESSION_SECRET: SESSION_SECRET
    }
  })
  await waitReady(port, proc)
  return { proc, port }
}

async function cli (target: Target, args: string[], stdin?: string): Promise<void> {
  const r = await run('cli', process.execPath, [BIN, ...args], { cpus: null, cwd: ROOT, ...(stdin !== undefined && { stdin }), env: { ...target.env, LOG_LEVEL: 'warn' } })
  if (r.code !== 0) throw new Error(`portcullis ${args.join(' ')}: exit ${r.code}: ${r.output}`)
}

async function token (port: number, body: Record<string, string>): Promise<{ access_token: string, refresh_token: string }> {
  const r = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString()
  })
  const text = await r.text()
  if (r.status !== 200) throw new Error(`token endpoint: ${r.status} ${text}`)
  return JSON.parse(text) as { access_token: string, refresh_token: string }
}
const login = async (port: number): Promise<{ access_token: string, refresh_token: string }> =>
  await token(port, { grant_type: 'password', client_id: CLIENT, username: USER, password: PASSWORD, scope: 'orders:read' })

// ---------------------------------------------------------------- counting with MONITOR (lib/redis-count.ts)
interface ModeCounts {
  request: Map<string, number>, requestExact: Map<string, number>, login: Map<string, number>, refresh: Map<string, number>
  sample: Seen[], sampleExact: Seen[], idlePerSecond: Map<string, number>, requestsPerSecond: number
  /** The batched counters' pushes (one EVALSHA per key each) seen while the batched requests ran, and how long they ran. */
  pushes: number, requestMs: number
}

async function countMode (target: Target, routesFile: string, mode: string): Promise<ModeCounts> {
  const gw = await startGateway(`gateway-${target.name}-${mode}`, target, routesFile, null, mode)
  try {
    const { access_token: at } = await login(gw.port)
    // warm: the token cache, the scripts loaded, the replicated view synced
    for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${gw.port}${PATH}`, { headers: { authorization: `Bearer ${at}` } })).arrayBuffer()
    await sleep(300) // the batched counter's last push done before the idle sample
    const idleMs = 2000
    const idle = await monitored(target, async () => { await sleep(idleMs) })
    const timed = async (n: number, op: () => Promise<void>): Promise<[Seen[], number]> => {
      let ms = 0
      const seen = await monitored(target, async () => {
        const t0 = Date.now()
        for (let i = 0; i < n; i++) await op()
        ms = Date.now() - t0
      })
      return [seen, ms]
    }
    const proxied = (path: string) => async () => {
      const r = await fetch(`http://127.0.0.1:${gw.port}${path}`, { headers: { authorization: `Bearer ${at}` } })
      await r.arrayBuffer()
      if (r.status !== 200) throw new Error(`proxied request ${path}: ${r.status}`)
    }
    const [reqSeen, reqMs] = await timed(REQUESTS, proxied(PATH))
    await proxied(PATH_EXACT)() // the exact route's script loaded (EVAL once), the batched key's last push done
    await sleep(300)
    const [exactSeen, exactMs] = await timed(REQUESTS, proxied(PATH_EXACT))
    const [loginSeen, loginMs] = await timed(LOGINS, async () => { await login(gw.port) })
    let rt = (await login(gw.port)).refresh_token
    const [refreshSeen, refreshMs] = await timed(REFRESHES, async () => {
      rt = (await token(gw.port, { grant_type: 'refresh_token', client_id: CLIENT, refresh_token: rt })).refresh_token
    })
    return {
      request: perOperation(reqSeen, idle, idleMs, reqMs, REQUESTS),
      requestExact: perOperation(exactSeen, idle, idleMs, exactMs, REQUESTS),
      requestsPerSecond: REQUESTS * 1000 / reqMs,
      login: perOperation(loginSeen, idle, idleMs, loginMs, LOGINS),
      refresh: perOperation(refreshSeen, idle, idleMs, refreshMs, REFRESHES),
      sample: reqSeen.filter((s) => !s.fromScript),
      sampleExact: exactSeen.filter((s) => !s.fromScript),
      idlePerSecond: perOperation(idle, [], 1, 1, idleMs / 1000, true),
      pushes: reqSeen.filter((s) => !s.fromScript && s.name === 'EVALSHA' && (s.args[2] ?? '').includes('counter:')).length,
      requestMs: reqMs
    }
  } finally {
    await stop(gw.proc)
  }
}

function report (topology: string, mode: string, c: ModeCounts): void {
  const pad = ' '.repeat(topology.length + mode.length + 4)
  out(`- ${topology}, ${mode}: proxied request, rate limit batched ${fmt(c.request)} (${REQUESTS} requests one after another in ${c.requestMs} ms, ${Math.round(c.requestsPerSecond)}/s; counter pushes: ${c.pushes} EVALSHA)`)
  out(`${pad}proxied request, rate limit exact ${fmt(c.requestExact)}`)
  out(`${pad}login (password grant) ${fmt(c.login)}`)
  out(`${pad}refresh ${fmt(c.refresh)}`)
  out(`${pad}idle instance, per second ${fmt(c.idlePerSecond)}`)
}

// ---------------------------------------------------------------- 1, 2, 3 instances
interface ScaleResult { n: number, rps: number, errors: number, gatewayCpuUs: number, redisCpuUs: number }

async function scaleOut (redis: RedisHandle, target: Target, routesFile: string, work: string): Promise<ScaleResult[]> {
  const first = await startGateway('scale-1', target, routesFile, null, 'strict')
  const issuer = `http://127.0.0.1:${first.port}`
  const gateways: Gateway[] = [first]
  const tokens: string[] = []
  for (let i = 0; i < 8; i++) tokens.push((await login(first.port)).access_token)
  const tokensFile = join(work, 'tokens.txt')
  writeFileSync(tokensFile, tokens.join('\n') + '\n')
  const results: ScaleResult[] = []
  try {
    for (let n = 1; n <= 3; n++) {
      while (gateways.length < n) gateways.push(await startGateway(`scale-${gateways.length + 1}`, target, routesFile, issuer, 'strict'))
      const each = Math.max(1, Math.round(CONNECTIONS / n))
      const load = async (durationS: number, label: string) => await Promise.all(gateways.map(async (g, i) =>
        await loadRun({ port: g.port, path: PATH, tokensFile, connections: each, durationS, cpus: null, label: `${label}-${n}-${i}` }, 'wrk')))
      await load(WARMUP, 'warm') // the JIT: throughput roughly doubles over the first seconds under load
      // CPU time (user + system) of the gateways and of redis-server over the measured run, per request
      const cpu = async (): Promise<[number, number]> => [
        (await Promise.all(gateways.map(async (g) => await cpuSecondsOf(g.proc.pid)))).reduce((a, b) => a + b, 0),
        await cpuSecondsOf(redis.pid)
      ]
      const [g0, r0] = await cpu()
      const runs = await load(DURATION, 'run')
      const [g1, r1] = await cpu()
      const requests = runs.reduce((a, r) => a + r.requests, 0)
      const r: ScaleResult = {
        n,
        rps: runs.reduce((a, x) => a + x.rps, 0),
        errors: runs.reduce((a, x) => a + x.statusErrors + x.socketErrors, 0),
        gatewayCpuUs: (g1 - g0) * 1e6 / requests,
        redisCpuUs: (r1 - r0) * 1e6 / requests
      }
      results.push(r)
      out(`  ${n} instance(s), ${each} connections each: ${Math.round(r.rps)} req/s in total, ${r.errors} failed; CPU per request: gateways ${Math.round(r.gatewayCpuUs)} µs, redis-server ${r.redisCpuUs.toFixed(1)} µs; load average ${loadavg()[0]!.toFixed(1)}`)
    }
  } finally {
    for (const g of gateways) await stop(g.proc)
  }
  return results
}

// ---------------------------------------------------------------- main
async function main (): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'portcullis-redis-commands-'))
  setLogDir(work)
  out('# Redis commands per operation, one shard\'s capacity, and 1/2/3 instances')
  out(`machine: ${cpus().length} CPU(s), ${cpus()[0]?.model ?? '?'}; node ${process.version}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}; logs in ${work}`)
  const redis = await startRedis()
  try {
    const upstreamPort = await freePort()
    const upstream = start('upstream', process.execPath, ['--import', 'tsx', join(ROOT, 'bench/upstream.ts'), String(upstreamPort)], { cpus: null, cwd: ROOT })
    const routesFile = join(work, 'routes.yaml')
    writeFileSync(routesFile, routesYaml(upstreamPort, 0) + [ // /orders/* (batched) and /exact/* (exact)
      '  - path: /exact/*', '    methods: [GET, HEAD]', '    upstream: api', `    scopes: [${BENCH_SCOPE}]`,
      `    rate_limit: { limit: ${BENCH_RATE_LIMIT}, window: 1m, by: subject, mode: exact }`, ''].join('\n'))
    await sleep(300)
    if (!upstream.alive()) throw new Error(upstream.output())
    const standalone: Target = { name: 'standalone', env: { REDIS_URL: redis.url }, masters: async () => [redis.port] }
    const provision = async (target: Target): Promise<void> => {
      await cli(target, ['users', 'add', USER, '--scopes', 'orders:read'], PASSWORD + '\n')
      await cli(target, ['clients', 'add', CLIENT, '--grants', 'password refresh_token', '--scopes', 'orders:read', '--public'])
    }
    await provision(standalone)

    out('\n## Commands sent per operation (MONITOR on every master; commands run inside a script not counted again; background subtracted; PING, INFO, CLUSTER, CLIENT and the epoch copies\' GET only in the idle line)')
    const counts: Record<string, ModeCounts> = {}
    for (const topology of TOPOLOGIES.filter((x) => x !== 'standalone')) {
      // Sentinel (1 master, 1 replica, 3 sentinels) or Cluster (3 masters, 3 replicas): REDIS_MIN_REPLICAS
      // defaults to 1 there, so acknowledged writes add a WAIT
      const handle = topology === 'sentinel' ? await startSentinel() : await startCluster()
      try {
        const target: Target = 'sentinels' in handle
          ? { name: 'sentinel', env: { REDIS_SENTINELS: handle.seeds, REDIS_SENTINEL_NAME: handle.name }, masters: async () => [(await handle.master()).port] }
          : { name: 'cluster', env: { REDIS_CLUSTER_NODES: handle.seeds }, masters: async () => (await handle.masters()).map((m) => m.node.port) }
        await provision(target)
        for (const mode of ['strict', 'replicated']) {
          const c = await countMode(target, routesFile, mode)
          report(topology, mode, c)
        }
      } finally {
        await handle.stop()
      }
    }
    for (const mode of ['strict', 'replicated']) {
      counts[mode] = await countMode(standalone, routesFile, mode)
      report('standalone', mode, counts[mode]!)
    }

    out(`\n## One shard: redis-benchmark, 50 clients, no pipelining, ${OPS} operations per command, loopback`)
    const shardRequests: Record<string, number> = {}
    const measured = new Map<string, number>() // ops/s per command name, each measured once
    for (const mode of ['strict', 'replicated']) {
      for (const limit of ['batched', 'exact']) {
        const label = `${mode}, rate limit ${limit}`
        const [sample, perRequest] = limit === 'exact' ? [counts[mode]!.sampleExact, counts[mode]!.requestExact] : [counts[mode]!.sample, counts[mode]!.request]
        let perRequestMicros = 0
        for (const c of requestCommands(sample, perRequest)) {
          if (!measured.has(c.name)) {
            measured.set(c.name, await benchmark(redis.port, OPS, [c.name, ...c.args]))
            out(`- ${c.name} with a request's own ${c.args.length} arguments: ${Math.round(measured.get(c.name)!)} ops/s`)
          }
          perRequestMicros += c.perRequest * 1e6 / measured.get(c.name)!
        }
        shardRequests[label] = perRequestMicros === 0 ? Infinity : 1e6 / perRequestMicros
        out(perRequestMicros === 0
          ? `  => ${label}: no command per request (only the counters' pushes, see above)`
          : `  => ${label}: one shard serves about ${Math.round(shardRequests[label])} proxied requests/s (${fmt(perRequest)} per request)`)
      }
    }
    const ping = await benchmark(redis.port, OPS, ['PING'])
    out(`   (reference: PING ${Math.round(ping)} ops/s)`)

    if (SCALE) {
      out(`\n## Throughput of 1, 2, 3 instances (strict, rate limit batched; one wrk per instance, ${CONNECTIONS} connections split, ${WARMUP} s warm-up, ${DURATION} s run; everything shares the ${cpus().length} CPU(s))`)
      const scale = await scaleOut(redis, standalone, routesFile, work)
      out(`load average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)
      out(`JSON ${JSON.stringify({ scale })}`)
    }
    out(`JSON ${JSON.stringify({ shardRequests, counts: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, { request: Object.fromEntries(v.request), requestExact: Object.fromEntries(v.requestExact), login: Object.fromEntries(v.login), refresh: Object.fromEntries(v.refresh) }])) })}`)
  } finally {
    await stopAll()
    await redis.stop()
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`redis-commands: ${(err as Error).stack ?? String(err)}\n`)
  await stopAll()
  process.exit(1)
})
