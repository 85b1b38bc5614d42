// `npm run bench`: Portcullis against its real alternatives, in one interleaved run; the summary judges the
// targets of issue 10 (bench/lib/goals.ts) as PASS/FAIL.
// Everything is on 127.0.0.1, bounded in time, and every process started here is stopped by PID
// (lib/procs.ts), also on Ctrl-C and on errors. bench/README.md explains what is measured and why.
// Laid out as: bench/lib/config.ts (the knobs below, the targets), lib/http.ts, lib/tokens.ts, lib/context.ts
// (Ctx, one load run, idle waits), lib/machine.ts, lib/gateway.ts (route-map directory, env, CLI); each section
// in bench/phases/: checks.ts, main-table.ts, logins.ts (a), route-maps.ts (b), memory.ts (c), revocation.ts (d),
// metrics.ts (e). This file starts the shared processes and the targets, runs the sections in that order, sums up.
//
// Knobs (env or --flag=value): BENCH_QUICK=1 (--quick), BENCH_ROUNDS (--rounds), BENCH_DURATION
// seconds per run (--duration), BENCH_CONNECTIONS (--connections, 64), BENCH_WARMUP seconds,
// BENCH_TARGETS (comma list), BENCH_EXTRAS (comma list of login,routes,memory,revocation,metrics,startup; or none),
// BENCH_MEMORY_TOKENS, BENCH_ROUTES, BENCH_LOGIN_RATE, BENCH_LOGIN_PROXY_SHARE (percent, 25), BENCH_LOGIN_PAIRS (8),
// BENCH_LOGIN_PAIR_DURATION (seconds, half of BENCH_DURATION), BENCH_LOGIN_CONTROL=hash-load|bad-grant|wrk-elsewhere, BENCH_TOKEN_COUNT, BENCH_LOG_LEVEL,
// BENCH_PIN=0, BENCH_TOOL=wrk|autocannon, BENCH_KEEP=1, BENCH_PORTCULLIS_ENV="K=V K=V".
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, startRedis, type RedisHandle } from '../test/helpers/redis-server.js'
import { cpuLayout, pinSelf, run, setLogDir, start, stopAll, type Proc } from './lib/procs.js'
import { startupBench } from './startup.js'
import { Goals } from './lib/goals.js'
import {
  AUDIENCE, BIN, CLIENT, CONNECTIONS, DURATION, EXTRAS, KEEP, LOGIN_RATE, MEMORY_TOKENS, NODE_FLAGS, PASSWORD, PATH, PIN,
  PROFILE, QUICK, RATE_LIMIT, ROOT, ROUNDS, ROUTE_COUNT, SCOPE, TARGETS, TOKEN_COUNT, USER, WARMUP, note, out, routesYaml,
  type Target
} from './lib/config.js'
import { withBystandersStopped, type Ctx } from './lib/context.js'
import { RouteDir, cli, describeConfig, portcullisEnv } from './lib/gateway.js'
import { answers, http, waitFor } from './lib/http.js'
import { ensureTools, loadavg, machine } from './lib/machine.js'
import { decodePart, passwordGrant } from './lib/tokens.js'
import { checks } from './phases/checks.js'
import { mainRounds } from './phases/main-table.js'
import { loginCapacity, loginLoad } from './phases/logins.js'
import { routeMaps } from './phases/route-maps.js'
import { memory } from './phases/memory.js'
import { revocation, revocationMode } from './phases/revocation.js'
import { metricsCost } from './phases/metrics.js'

// ---------------------------------------------------------------- the run
async function main (): Promise<void> {
  const started = Date.now()
  const nproc = cpus().length
  const layout = cpuLayout(nproc, PIN)
  pinSelf(layout.tools)
  const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
  workDir = work
  setLogDir(work)

  out('# Portcullis benchmark (npm run bench)')
  out(machine())
  out(`layout: ${layout.description}`)
  const tools = ensureTools()
  const tool: 'wrk' | 'autocannon' = process.env.BENCH_TOOL === 'autocannon' || !tools.wrk ? 'autocannon' : 'wrk'
  if (tool === 'autocannon' && layout.tools !== null) note('autocannon runs inside this orchestrator, on the tools CPU')
  const mode = revocationMode()
  const targets = TARGETS.filter((t) => (t !== 'haproxy-jwt' || tools.haproxy) && ((t !== 'portcullis-replicated' && t !== 'portcullis-strict') || mode !== null))
  if (mode === null && TARGETS.some((t) => t === 'portcullis-replicated' || t === 'portcullis-strict')) out('NOTE: this gateway has no REVOCATION_MODE: the portcullis-replicated and portcullis-strict targets are skipped')
  out(`load: ${tool}, 1 thread, ${CONNECTIONS} connections, ${DURATION} s per run, ${ROUNDS} interleaved round(s), warm-up ${WARMUP} s per Node target (3 s for direct and haproxy-jwt); GET ${PATH}`)
  out(`targets: ${targets.join(', ')}; extras: ${[...EXTRAS].join(', ')}; logs in ${work}`)
  out()

  // ---- shared pieces: Redis and the upstream, on the tools CPU (this process is pinned there)
  const redis = await startRedis()
  redisHandle = redis
  note(`redis-server pid ${redis.pid} on ${redis.port}`)
  let ctx: Ctx | undefined
  try {
    const upstreamPort = await freePort()
    const upstream = start('upstream', process.execPath, ['--import', 'tsx', join(ROOT, 'bench/upstream.ts'), String(upstreamPort)], { cpus: layout.tools, cwd: ROOT })
    await waitFor('upstream', upstream, answers(upstreamPort))
    note(`upstream pid ${upstream.pid} on ${upstreamPort}`)

    // ---- portcullis: user + public client through the CLI, then the gateway pinned to CPU 0
    const cliCtx = { redisUrl: redis.url, cpus: layout.tools }
    await cli(cliCtx, ['users', 'add', USER, '--scopes', 'orders:read orders:write'], PASSWORD + '\n')
    await cli(cliCtx, ['clients', 'add', CLIENT, '--grants', 'password refresh_token', '--scopes', 'orders:read orders:write', '--public'])
    const routes = new RouteDir(join(work, 'routes'), routesYaml(upstreamPort, 9)) // 10 routes
    const routesFile = routes.file
    const portcullisPort = await freePort()
    const adminPort = await freePort() // metrics on, as by default in production (ADMIN_PORT 9090 would clash between instances)
    const profileArgs = PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(work, 'profile')] : []
    const portcullis = start('portcullis', process.execPath, [...NODE_FLAGS, ...profileArgs, BIN, 'serve'], {
      cpus: layout.gateway, cwd: ROOT, env: portcullisEnv(redis.url, portcullisPort, routesFile, { ADMIN_PORT: String(adminPort) })
    })
    await waitFor('portcullis', portcullis, answers(portcullisPort, '/readyz', (s) => s === 200))
    note(`portcullis pid ${portcullis.pid} on ${portcullisPort} (node ${NODE_FLAGS.join(' ') || '(no flags)'} bin/portcullis.js serve, as the image starts it; the default configuration, no REVOCATION_MODE given; routes: 10; ${await describeConfig(portcullisEnv(redis.url, portcullisPort, routesFile, { ADMIN_PORT: String(adminPort) }))})`)
    const issuer = `http://127.0.0.1:${portcullisPort}`

    // tokens from the gateway's own token endpoint (password grant: real bcrypt)
    const tokens: string[] = []
    for (let i = 0; i < TOKEN_COUNT; i++) tokens.push(await passwordGrant(portcullisPort))
    const tokensFile = join(work, 'tokens.txt')
    writeFileSync(tokensFile, tokens.join('\n') + '\n')
    const claims = decodePart(tokens[0] as string, 1)
    note(`${tokens.length} access tokens from POST /oauth/token (password grant); alg ${String(decodePart(tokens[0] as string, 0).alg)}, ${(tokens[0] as string).length} bytes, aud ${JSON.stringify(claims.aud)}, scope "${String(claims.scope)}"`)

    // the gateway's public key, from its JWKS, as PEM for HAProxy and the naive stack
    const jwks = JSON.parse((await http(portcullisPort, '/.well-known/jwks.json')).body) as { keys: JsonWebKey[] }
    const pem = createPublicKey({ key: jwks.keys[0] as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
    const pemFile = join(work, 'gateway-public.pem')
    writeFileSync(pemFile, pem)

    ctx = {
      work, tool, gatewayCpus: layout.gateway, toolCpus: layout.tools, ports: { direct: upstreamPort, portcullis: portcullisPort },
      upstreamPort, redis, portcullis, portcullisPort, routes, issuer, tokensFile, tokens, results: {}, summary: [], goals: new Goals({ connections: CONNECTIONS, routes: ROUTE_COUNT, memoryTokens: MEMORY_TOKENS, loginRate: LOGIN_RATE, nproc }), replicated: null, pids: { direct: upstream.pid, portcullis: portcullis.pid }
    }

    // ---- the other targets, each on its own port, on CPU 0
    if (targets.includes('haproxy-jwt')) {
      const port = await freePort()
      const cfg = readFileSync(join(ROOT, 'bench/haproxy.cfg.tmpl'), 'utf8')
        .replaceAll('{{PORT}}', String(port)).replaceAll('{{UPSTREAM_PORT}}', String(upstreamPort))
        .replaceAll('{{PEM}}', pemFile).replaceAll('{{ISSUER}}', issuer).replaceAll('{{AUDIENCE}}', AUDIENCE)
        .replaceAll('{{SCOPE}}', SCOPE).replaceAll('{{RATE_LIMIT}}', String(RATE_LIMIT))
      const cfgFile = join(work, 'haproxy.cfg')
      writeFileSync(cfgFile, cfg)
      const check = await run('haproxy-check', 'haproxy', ['-c', '-f', cfgFile], { cpus: null })
      if (check.code !== 0) throw new Error(`haproxy -c refused the generated config:\n${check.output}`)
      const p = start('haproxy-jwt', 'haproxy', ['-db', '-f', cfgFile], { cpus: layout.gateway })
      await waitFor('haproxy', p, answers(port))
      ctx.ports['haproxy-jwt'] = port
      ctx.pids['haproxy-jwt'] = p.pid
      note(`haproxy-jwt pid ${p.pid} on ${port} (nbthread 1; config ${cfgFile})`)
    }
    /** Another instance of the same gateway (same Redis, keys, issuer and route map), REVOCATION_MODE set explicitly. */
    const variant = async (name: Target, mode: { variable: string }, value: string): Promise<Proc> => {
      const port = await freePort()
      const ownRoutes = new RouteDir(join(work, `routes-${name}`), routesYaml(upstreamPort, 9)) // not swapped by (b)
      const env = portcullisEnv(redis.url, port, ownRoutes.file, { ISSUER: issuer, ADMIN_PORT: String(await freePort()), [mode.variable]: value })
      const p = start(name, process.execPath, [...NODE_FLAGS, BIN, 'serve'], { cpus: layout.gateway, cwd: ROOT, env })
      await waitFor(name, p, answers(port, '/readyz', (s) => s === 200))
      ctx!.ports[name] = port
      ctx!.pids[name] = p.pid
      note(`${name} pid ${p.pid} on ${port} (${await describeConfig(env)})`)
      return p
    }
    if (mode !== null && (targets.includes('portcullis-replicated') || EXTRAS.has('revocation'))) {
      const p = await variant('portcullis-replicated', mode, mode.replicated)
      ctx.replicated = { port: ctx.ports['portcullis-replicated']!, proc: p, setting: `${mode.variable}=${mode.replicated}` }
    }
    // the per-request revocation read, named explicitly (issue 10's "strict mode" column)
    if (mode !== null && targets.includes('portcullis-strict')) await variant('portcullis-strict', mode, mode.strict)
    for (const t of ['fastify-bare', 'undici-direct'] as const) {
      if (!targets.includes(t)) continue
      const port = await freePort()
      const p = start(t, process.execPath, ['--import', 'tsx', join(ROOT, `bench/targets/${t}.ts`)], {
        cpus: layout.gateway, cwd: ROOT, env: { PORT: String(port), UPSTREAM: `http://127.0.0.1:${upstreamPort}` }
      })
      await waitFor(t, p, answers(port))
      ctx.ports[t] = port
      ctx.pids[t] = p.pid
      note(`${t} pid ${p.pid} on ${port}`)
    }
    if (targets.includes('naive-stack')) {
      const port = await freePort()
      const p = start('naive-stack', process.execPath, ['--import', 'tsx', join(ROOT, 'bench/targets/naive-stack.ts')], {
        cpus: layout.gateway,
        cwd: ROOT,
        env: {
          PORT: String(port), UPSTREAM: `http://127.0.0.1:${upstreamPort}`, REDIS_URL: redis.url, PUBLIC_KEY_FILE: pemFile,
          ISSUER: issuer, AUDIENCE, SCOPE, RATE_LIMIT: String(RATE_LIMIT)
        }
      })
      await waitFor('naive-stack', p, answers(port))
      ctx.ports['naive-stack'] = port
      ctx.pids['naive-stack'] = p.pid
      note(`naive-stack pid ${p.pid} on ${port}`)
    }
    out()

    await checks(ctx, targets)
    await mainRounds(ctx, targets)
    if (EXTRAS.has('login')) {
      const allCpus = PIN && nproc > 1 ? `0-${nproc - 1}` : null
      const c = ctx
      await withBystandersStopped(c, [], async () => {
        await loginLoad(c, allCpus)
        await loginCapacity(c, allCpus)
      })
    }
    if (EXTRAS.has('routes')) {
      const c = ctx
      await withBystandersStopped(c, ['portcullis'], async () => { await routeMaps(c) })
    }
    if (EXTRAS.has('memory')) await memory(ctx)
    if (EXTRAS.has('revocation')) await revocation(ctx)
    if (EXTRAS.has('metrics')) await metricsCost(ctx)
    if (EXTRAS.has('startup')) {
      out('## Start-up of the shipped binary (issue 9 §1)')
      const r = await startupBench({ redisUrl: redis.url, runs: QUICK ? 3 : 10 })
      for (const line of r.lines) out(line)
      out()
      ctx.summary.push(...r.summary)
    }

    out()
    out('## Summary against the targets of issue 10')
    const { pass, fail } = ctx.goals.counts()
    out(`${pass} PASS, ${fail} FAIL (one interleaved run; a miss is printed, it does not change the exit code)`)
    for (const line of ctx.goals.lines()) out(`- ${line}`)
    if (ctx.summary.length > 0) {
      out('')
      out('Also measured in this run (targets of earlier issues):')
      for (const line of ctx.summary) out(`- ${line}`)
    }
    out()
    out(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; load average at the end: ${loadavg()} (1, 5, 15 min; this run alone keeps it near 2 on 2 CPUs: well above that, other processes were competing for the CPUs)`)
  } finally {
    await stopAll()
    await redis.stop()
    if (KEEP) out(`logs kept in ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- entry
let stopping = false
let redisHandle: RedisHandle | undefined
let workDir: string | undefined
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(130)
    stopping = true
    process.stderr.write(`\nbench: ${signal}, stopping every process it started ...\n`)
    void stopAll().then(async () => await redisHandle?.stop()).finally(() => {
      if (workDir !== undefined && !KEEP) rmSync(workDir, { recursive: true, force: true })
      process.exit(130)
    })
  })
}
try {
  await main()
} catch (err) {
  if (stopping) await new Promise(() => {}) // interrupted: the signal handler cleans up and exits
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`)
  await stopAll()
  process.exitCode = 1
}
