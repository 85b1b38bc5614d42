// `npm run bench`: Portcullis against its real alternatives, in one interleaved run; the summary judges the
// targets of issue 10 (bench/lib/goals.ts) as PASS/FAIL.
// Everything is on 127.0.0.1, bounded in time, and every process started here is stopped by PID
// (lib/procs.ts), also on Ctrl-C and on errors. bench/README.md explains what is measured and why.
//
// Knobs (env or --flag=value): BENCH_QUICK=1 (--quick), BENCH_ROUNDS (--rounds), BENCH_DURATION
// seconds per run (--duration), BENCH_CONNECTIONS (--connections, 64), BENCH_WARMUP seconds,
// BENCH_TARGETS (comma list), BENCH_EXTRAS (comma list of login,routes,memory,revocation,metrics,startup; or none),
// BENCH_MEMORY_TOKENS, BENCH_ROUTES, BENCH_LOGIN_RATE, BENCH_LOGIN_PROXY_SHARE (percent, 25), BENCH_LOGIN_PAIRS (8),
// BENCH_LOGIN_PAIR_DURATION (seconds, half of BENCH_DURATION), BENCH_LOGIN_CONTROL=hash-load|bad-grant|wrk-elsewhere, BENCH_TOKEN_COUNT, BENCH_LOG_LEVEL,
// BENCH_PIN=0, BENCH_TOOL=wrk|autocannon, BENCH_KEEP=1, BENCH_PORTCULLIS_ENV="K=V K=V".
import { generateKeyPairSync, createPublicKey, randomBytes, sign as cryptoSign, type JsonWebKey } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { cpus, hostname, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, startRedis, type RedisHandle } from '../test/helpers/redis-server.js'
import { cpuLayout, cpuSecondsOf, memoryOf, pinSelf, run, setLogDir, start, stop, stopAll, type Proc } from './lib/procs.js'
import { hasWrk, loadRun, type LoadResult } from './lib/load.js'
import { startupBench } from './startup.js'
import { fmtInt, fmtMs, fmtRatio, median, percentile, table } from './lib/stats.js'
import { Goals } from './lib/goals.js'
import { BENCH_RATE_LIMIT, BENCH_SCOPE, probePath, routesYaml as benchRoutes } from './lib/routes.js'
import { imageNodeFlags } from '../test/helpers/node-child.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const BIN = join(ROOT, 'bin', 'portcullis.js')
/** Every Portcullis instance starts with the image's node options (the Dockerfile's NODE_OPTIONS: V8's heap bound), on its command line. */
const NODE_FLAGS = imageNodeFlags()

// ---------------------------------------------------------------- configuration
function flag (name: string): string | undefined {
  const i = process.argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  if (i < 0) return undefined
  const a = process.argv[i] as string
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : (process.argv[i + 1]?.startsWith('--') === false ? process.argv[i + 1] : 'true')
}
function knob (name: string, env: string, def: number): number {
  const raw = flag(name) ?? process.env[env]
  if (raw === undefined || raw === '') return def
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${env} / --${name}: expected a positive number, got ${raw}`)
  return n
}
const QUICK = flag('quick') !== undefined || process.env.BENCH_QUICK === '1'
const ROUNDS = Math.round(knob('rounds', 'BENCH_ROUNDS', QUICK ? 1 : 3))
const DURATION = Math.round(knob('duration', 'BENCH_DURATION', QUICK ? 3 : 10))
const CONNECTIONS = Math.round(knob('connections', 'BENCH_CONNECTIONS', 64))
const WARMUP = Math.round(knob('warmup', 'BENCH_WARMUP', QUICK ? 5 : 12))
const EXTRA_ROUNDS = Math.min(ROUNDS, 3)
const MEMORY_MAX_S = Math.round(knob('memory-max', 'BENCH_MEMORY_MAX', 90))
const MEMORY_TOKENS = Math.round(knob('memory-tokens', 'BENCH_MEMORY_TOKENS', 100_000))
const ROUTE_COUNT = Math.round(knob('routes', 'BENCH_ROUTES', 10_000))
const LOGIN_RATE = knob('login-rate', 'BENCH_LOGIN_RATE', 20)
/** wrk connections for phase (a)'s logins: each waits for its slot of the schedule (bench/wrk.lua BENCH_RATE). */
const LOGIN_CONNECTIONS = 8
/**
 * Phase (a)'s quiet/busy pairs and the seconds of each run: the p99 of one few-second run on a shared
 * 2-vCPU VM ranges ×3 between runs with nothing changed (bench/README.md "Native bcrypt"), so the
 * verdict is the median over many short pairs rather than over the three rounds of the other phases.
 */
const LOGIN_PAIRS = Math.round(knob('login-pairs', 'BENCH_LOGIN_PAIRS', QUICK ? 2 : 8))
/**
 * Phase (a)'s controls (no verdict). BENCH_LOGIN_CONTROL=hash-load: the busy runs get, instead of the
 * logins, their hashing alone (LOGIN_RATE cost-10 compares per second) in a separate process at nice 19
 * on every core (bench/hash-load.ts): what the hashing costs the proxied p99 whatever the gateway does.
 * =bad-grant: the same second wrk at the same rate, but each request is refused at once
 * (`grant_type=bogus`, 400): what sending and answering 20 requests/s costs, without the login.
 * =wrk-elsewhere: the same second wrk at the same rate, sent to the upstream instead of the gateway:
 * what the second load generator costs by itself.
 */
const LOGIN_CONTROL = (['hash-load', 'bad-grant', 'wrk-elsewhere'] as const).find((c) => c === process.env.BENCH_LOGIN_CONTROL) ?? null
const CONTROL_TEXT = {
  'hash-load': `the hashing of ${LOGIN_RATE} logins/s in a separate nice-19 process, no logins`,
  'bad-grant': `${LOGIN_RATE} refused token requests/s (grant_type=bogus), no logins`,
  'wrk-elsewhere': `the second wrk's ${LOGIN_RATE} requests/s sent to the upstream, not the gateway`
}
const LOGIN_PAIR_S = Math.round(knob('login-pair-duration', 'BENCH_LOGIN_PAIR_DURATION', Math.max(3, Math.round(DURATION / 2))))
/** Phase (a)'s open-loop proxied load, as a share of the all-core instance's closed-loop req/s. */
const LOGIN_PROXY_SHARE = knob('login-proxy-share', 'BENCH_LOGIN_PROXY_SHARE', 25) / 100
const TOKEN_COUNT = Math.round(knob('token-count', 'BENCH_TOKEN_COUNT', 8))
const REVOCATIONS = Math.round(knob('revocations', 'BENCH_REVOCATIONS', QUICK ? 50 : 200))
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn'
const PIN = process.env.BENCH_PIN !== '0'
const PROFILE = process.env.BENCH_PROFILE === '1' // V8 CPU profile of the portcullis instance (written at its exit; implies BENCH_KEEP)
const KEEP = process.env.BENCH_KEEP === '1' || PROFILE
// portcullis: the default configuration (no REVOCATION_MODE given); portcullis-strict and
// portcullis-replicated: the same gateway with REVOCATION_MODE set explicitly, so their labels stay true
// whatever the default is
const ALL_TARGETS = ['direct', 'haproxy-jwt', 'fastify-bare', 'naive-stack', 'portcullis', 'portcullis-strict', 'portcullis-replicated'] as const
/** Targets run only when BENCH_TARGETS names them (`undici-direct`: the floor under fastify-bare, bench/README.md). */
const OPTIONAL_TARGETS = ['undici-direct'] as const
type Target = typeof ALL_TARGETS[number] | typeof OPTIONAL_TARGETS[number]
const KNOWN_TARGETS: readonly string[] = [...ALL_TARGETS, ...OPTIONAL_TARGETS]
const TARGETS: Target[] = (process.env.BENCH_TARGETS ?? flag('targets') ?? ALL_TARGETS.join(','))
  .split(',').map((s) => s.trim()).filter((s): s is Target => KNOWN_TARGETS.includes(s))
/** Targets without auth: no token is sent to them, and the refusal checks are skipped. */
const NO_AUTH: ReadonlySet<string> = new Set(['direct', 'fastify-bare', 'undici-direct'])
if (!TARGETS.includes('portcullis')) TARGETS.push('portcullis') // the extras and the ratios need it
const EXTRAS = new Set((process.env.BENCH_EXTRAS ?? flag('extras') ?? 'login,routes,memory,revocation,metrics,startup').split(',').map((s) => s.trim()))
const PATH = '/orders/42'
const SCOPE = BENCH_SCOPE
const AUDIENCE = 'portcullis'
/** BENCH_RATE_LIMIT=0: the measured route `/orders/*` has no rate_limit (to profile the rest of the path). */
const ROUTE_RATE_LIMIT = process.env.BENCH_RATE_LIMIT !== '0'
const RATE_LIMIT = BENCH_RATE_LIMIT
/** The bench's route map (bench/lib/routes.ts); with BENCH_RATE_LIMIT=0, `/orders/*` without its rate_limit. */
function routesYaml (upstreamPort: number, extra: number): string {
  return benchRoutes(upstreamPort, extra, { ordersRateLimit: ROUTE_RATE_LIMIT })
}
const USER = 'bench'
const PASSWORD = 'bench-password-0123'
const CLIENT = 'bench-app'

const out = (s = ''): void => { process.stdout.write(s + '\n') }
const note = (s: string): void => { process.stdout.write(`  · ${s}\n`) }

// ---------------------------------------------------------------- HTTP helpers
interface Reply { status: number, headers: Headers, body: string }
async function http (port: number, path: string, init: RequestInit = {}): Promise<Reply> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(30_000) })
  return { status: r.status, headers: r.headers, body: await r.text() }
}
async function waitFor (what: string, proc: Proc | null, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc !== null && !proc.alive()) throw new Error(`${what} exited during start:\n${proc.output().slice(-1500)}`)
    try { if (await probe()) return } catch { /* not yet */ }
    await sleep(50)
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms${proc !== null ? `:\n${proc.output().slice(-1500)}` : ''}`)
}
const answers = (port: number, path = '/', ok = (s: number) => s > 0) => async () => ok((await http(port, path)).status)

// ---------------------------------------------------------------- tokens
function b64json (x: unknown): string { return Buffer.from(JSON.stringify(x)).toString('base64url') }
function decodePart (token: string, i: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[i] as string, 'base64url').toString()) as Record<string, unknown>
}
/** Same header and claims, signed by a key the gateway never published. */
function forge (token: string): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const input = token.split('.').slice(0, 2).join('.')
  return `${input}.${cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
}
/** One signature byte flipped. */
function tamper (token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const sig = Buffer.from(s, 'base64url')
  sig[5] = (sig[5] as number) ^ 0x01
  return `${h}.${p}.${sig.toString('base64url')}`
}
async function passwordGrant (port: number, scope = SCOPE): Promise<string> {
  const r = await http(port, '/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', client_id: CLIENT, username: USER, password: PASSWORD, scope }).toString()
  })
  if (r.status !== 200) throw new Error(`password grant failed: ${r.status} ${r.body}`)
  return (JSON.parse(r.body) as { access_token: string }).access_token
}

// ---------------------------------------------------------------- the run
interface Ctx {
  work: string
  tool: 'wrk' | 'autocannon'
  gatewayCpus: string | null
  toolCpus: string | null
  ports: Partial<Record<Target, number>>
  upstreamPort: number
  redis: RedisHandle
  portcullis: Proc
  portcullisPort: number
  routes: RouteDir
  issuer: string
  tokensFile: string
  tokens: string[]
  results: Record<string, LoadResult[]>
  summary: string[]
  /** The targets of issue 10, judged section by section. */
  goals: Goals
  /** PID of the process that does each target's work (direct: the upstream). */
  pids: Partial<Record<Target, number>>
  /** The second gateway instance, REVOCATION_MODE=replicated (when the gateway has that mode). */
  replicated: { port: number, proc: Proc, setting: string } | null
}

async function load (ctx: Ctx, label: string, port: number, opts: { tokensFile?: string | null, durationS?: number, countStatus?: boolean, rate?: number } = {}): Promise<LoadResult> {
  return await loadRun({
    port,
    path: PATH,
    tokensFile: opts.tokensFile === undefined ? ctx.tokensFile : opts.tokensFile,
    connections: CONNECTIONS,
    durationS: opts.durationS ?? DURATION,
    cpus: ctx.toolCpus,
    label,
    countStatus: opts.countStatus ?? false,
    ...(opts.rate !== undefined && { rate: opts.rate })
  }, ctx.tool)
}

function failures (r: LoadResult): string {
  const by = Object.entries(r.statuses).map(([k, v]) => `${v}× ${k}`).join(', ')
  return r.statusErrors + r.socketErrors === 0 ? '' : ` (FAILED REQUESTS: ${r.statusErrors} non-2xx/3xx${by === '' ? '' : ` [${by}]`}, ${r.socketErrors} socket errors/timeouts)`
}

function machine (): string {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown CPU'
  const wrkV = spawnSync('wrk', ['-v'], { encoding: 'utf8' })
  const haV = spawnSync('haproxy', ['-v'], { encoding: 'utf8' })
  const redisV = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  return [
    `date: ${new Date().toISOString()}  host: ${hostname()}`,
    `nproc: ${cpus().length}  CPU: ${model}  node: ${process.version}`,
    `wrk: ${`${wrkV.stdout ?? ''}${wrkV.stderr ?? ''}`.split('\n')[0]?.trim() || 'not installed'}`,
    `load average before the run: ${loadavg()}`,
    `haproxy: ${haV.stdout?.split('\n')[0]?.trim() || 'not installed'}  redis: ${redisV.stdout?.trim().split(' ').slice(0, 3).join(' ') || 'not installed'}`
  ].join('\n')
}

function loadavg (): string {
  try { return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') } catch { return 'n/a' }
}

function ensureTools (): { haproxy: boolean, wrk: boolean } {
  const has = (cmd: string, arg: string): boolean => spawnSync(cmd, [arg], { stdio: 'ignore' }).error === undefined
  let haproxy = has('haproxy', '-v')
  let wrk = hasWrk()
  const isRoot = process.getuid?.() === 0
  if ((!haproxy || !wrk) && isRoot && process.env.BENCH_APT !== '0') {
    const missing = [!haproxy && 'haproxy', !wrk && 'wrk'].filter(Boolean) as string[]
    out(`installing ${missing.join(' ')} with apt-get (BENCH_APT=0 to skip) ...`)
    spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit' })
    haproxy = has('haproxy', '-v')
    wrk = hasWrk()
  }
  if (!haproxy) out('NOTE: haproxy is not installed (apt-get install -y haproxy): the haproxy-jwt target is skipped')
  if (!wrk) out('NOTE: wrk is not installed (apt-get install -y wrk): using autocannon (Node, heavier) as the load generator')
  return { haproxy, wrk }
}

/**
 * The route map laid out the way Kubernetes mounts a ConfigMap: routes.yaml → ..data/routes.yaml and
 * ..data → ..vN/. A new version swaps the ..data link (one rename). The gateway's watcher sees that
 * swap too, but (b) sends SIGHUP right after it: the SIGHUP reload is the one measured, and the
 * watcher's, finding the text already live, compiles nothing (`routes_unchanged`). Each Portcullis
 * instance that stays up while (b) runs has a RouteDir of its own: with one shared file, the strict and
 * replicated instances (pinned to the same CPU) compiled every swapped 10,000-route map too, beside
 * the measured one (reload 495 ms median in a full run against 231–349 ms alone).
 */
class RouteDir {
  readonly file: string
  #version = 0
  constructor (readonly dir: string, text: string) {
    mkdirSync(dir)
    this.file = join(dir, 'routes.yaml')
    this.swap(text)
    symlinkSync(join('..data', 'routes.yaml'), this.file)
  }

  swap (text: string): void {
    const version = `..v${++this.#version}`
    mkdirSync(join(this.dir, version))
    writeFileSync(join(this.dir, version, 'routes.yaml'), text)
    symlinkSync(version, join(this.dir, '..data_tmp'))
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'))
  }
}

async function cli (ctx: { redisUrl: string, cpus: string | null }, args: string[], stdin?: string): Promise<string> {
  const r = await run('cli', process.execPath, [BIN, ...args], {
    cpus: ctx.cpus, cwd: ROOT, ...(stdin !== undefined && { stdin }), env: { REDIS_URL: ctx.redisUrl, LOG_LEVEL: 'warn' }
  })
  if (r.code !== 0) throw new Error(`portcullis ${args.join(' ')} failed (exit ${r.code}): ${r.output}`)
  return r.output
}

function portcullisEnv (redisUrl: string, port: number, routesFile: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const fromKnob: Record<string, string> = {}
  for (const kv of (process.env.BENCH_PORTCULLIS_ENV ?? '').split(/\s+/).filter(Boolean)) {
    const i = kv.indexOf('=')
    if (i > 0) fromKnob[kv.slice(0, i)] = kv.slice(i + 1)
  }
  return {
    NODE_ENV: 'production',
    SESSION_SECRET: randomBytes(32).toString('base64'), // required in production (the login page's cookies)
    REDIS_URL: redisUrl,
    ROUTES_FILE: routesFile,
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${port}`,
    AUDIENCE,
    SIGNING_ALG: 'ES256',
    LOG_LEVEL: LOG_LEVEL,
    TOKEN_RATE_LIMIT: '1000000',
    ...extra,
    ...fromKnob
  }
}

/** The gateway settings that matter for performance, as the gateway itself parses them. */
async function describeConfig (env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { loadConfig } = await import('../src/config/env.js')
    const c = loadConfig(env) as unknown as Record<string, unknown>
    return ['LOG_LEVEL', 'ADMIN_PORT', 'REVOCATION_MODE', 'TOKEN_CACHE_SIZE', 'BCRYPT_COST', 'BCRYPT_THREADS', 'REDIS_TIMEOUT']
      .filter((k) => c[k] !== undefined).map((k) => `${k}=${String(c[k])}`).join(' ')
  } catch (err) {
    return `config not parsed: ${(err as Error).message}`
  }
}

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

// ---------------------------------------------------------------- refuse bad, accept good
async function checks (ctx: Ctx, targets: Target[]): Promise<void> {
  out('## Checks before load (a bad token is refused, a good one accepted)')
  const good = ctx.tokens[0] as string
  const writeOnly = await passwordGrant(ctx.portcullisPort, 'orders:write')
  const bad: Array<[string, string | null, number[]]> = [
    ['no token', null, [401]],
    ['tampered signature', tamper(good), [401]],
    ['forged (unknown key)', forge(good), [401]],
    ['expired', null, [401]], // filled below: HAProxy and the naive stack cannot be given an expired token of ours any other way
    ['missing scope', writeOnly, [403]]
  ]
  // an expired token with a valid signature: mint one with the gateway's key
  const expired = await mintTokens(ctx, 1, -3600)
  ;(bad[3] as [string, string | null, number[]])[1] = expired[0] as string
  for (const t of targets) {
    const port = ctx.ports[t] as number
    const ok = await http(port, PATH, { headers: { authorization: `Bearer ${good}` } })
    const seen = ok.headers.get('x-seen-subject')
    const parts = [`good token ${ok.status}${seen !== null ? ` (upstream saw x-auth-subject: ${seen})` : ''}`]
    if (ok.status !== 200) throw new Error(`${t} did not accept a good token: ${ok.status} ${ok.body.slice(0, 200)}`)
    if (NO_AUTH.has(t)) {
      out(`- ${t}: ${parts[0]}; refusal check skipped: no auth by design`)
      continue
    }
    if (seen !== USER) throw new Error(`${t}: the upstream did not get x-auth-subject=${USER}`)
    for (const [name, token, expect] of bad) {
      const r = await http(port, PATH, token === null ? {} : { headers: { authorization: `Bearer ${token}` } })
      if (!expect.includes(r.status)) throw new Error(`${t} answered ${r.status} to a ${name} token (expected ${expect.join('/')})`)
      parts.push(`${name} ${r.status}`)
    }
    out(`- ${t}: ${parts.join(', ')}`)
  }
  out()
}

// ---------------------------------------------------------------- main table
async function mainRounds (ctx: Ctx, targets: Target[]): Promise<void> {
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
async function loginLoad (ctx: Ctx, allCpus: string | null): Promise<void> {
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
async function loginCapacity (ctx: Ctx, allCpus: string | null): Promise<void> {
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

/**
 * Runs `fn` with the throughput targets it does not use stopped (SIGSTOP) and continues them after.
 * They sit idle on the gateway's CPU once the main rounds are over, where their timers and V8's
 * idle-time collections after the heavy runs can land in the runs of phases (a) and (b) (the upstream,
 * `direct`, always keeps serving).
 */
async function withBystandersStopped (ctx: Ctx, uses: Target[], fn: () => Promise<void>): Promise<void> {
  const stopped = Object.entries(ctx.pids).filter(([t]) => t !== 'direct' && !uses.includes(t as Target)).map(([, pid]) => pid as number)
  for (const pid of stopped) process.kill(pid, 'SIGSTOP')
  try {
    await fn()
  } finally {
    for (const pid of stopped) process.kill(pid, 'SIGCONT')
  }
}

/**
 * Waits until the gateway is idle again after a reload: its access diff (logged after the swap, in
 * slices of the event loop) would otherwise run during the next measured load. Idle: under 20 % of a
 * CPU over 250 ms, with no load running; at most 30 s.
 */
async function settled (pid: number): Promise<number> {
  const t0 = performance.now()
  let last = await cpuSecondsOf(pid)
  while (performance.now() - t0 < 30_000) {
    await sleep(250)
    const now = await cpuSecondsOf(pid)
    if (now - last < 0.05) break
    last = now
  }
  return performance.now() - t0
}

async function routeMaps (ctx: Ctx): Promise<void> {
  const big = ROUTE_COUNT - 1 // plus /orders/*
  out(`## (b) Route map: 10 routes against ${fmtInt(ROUTE_COUNT)} routes, and reloading the big map under load`)
  // (a) leaves the gateway working on its last logins for a while: start from an idle gateway
  note(`gateway idle after ${(await settled(ctx.portcullis.pid) / 1000).toFixed(1)} s`)
  // the file compiled in-process, as a reference for the parse/validate/compile cost alone
  const { compileRouteMap } = await import('../src/config/route-map-loader.js')
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

// ---------------------------------------------------------------- (c) memory with many tokens
/** Valid tokens of this gateway, signed with its current key (read from Redis, `portcullis:keys`). */
async function mintTokens (ctx: Ctx, n: number, expOffsetS = 900): Promise<string[]> {
  const { createStore } = await import('../src/store/index.js')
  const { KeyRing } = await import('../src/oauth/keys.js')
  const { signAccessToken, newJti } = await import('../src/oauth/jwt.js')
  const store = createStore({ redisUrl: ctx.redis.url, timeoutMs: 5000 })
  const silent = { info: () => {}, warn: () => {}, error: () => {} }
  try {
    await (store as { ready?: (ms?: number) => Promise<boolean> }).ready?.(5000)
    const ring = await KeyRing.load(store, { alg: 'ES256', logger: silent, refreshIntervalMs: 0 })
    const template = decodePart(ctx.tokens[0] as string, 1)
    const now = Math.floor(Date.now() / 1000)
    const outTokens: string[] = []
    for (let i = 0; i < n; i++) {
      outTokens.push(signAccessToken(ring, {
        ...template,
        iat: expOffsetS < 0 ? now + expOffsetS - 900 : now,
        exp: now + expOffsetS,
        jti: newJti()
      } as unknown as Parameters<typeof signAccessToken>[1]))
    }
    ring.close()
    return outTokens
  } finally {
    await (store as { close?: () => Promise<void> }).close?.()
  }
}

async function memory (ctx: Ctx): Promise<void> {
  out(`## (c) Memory after a run with ${fmtInt(MEMORY_TOKENS)} distinct valid tokens`)
  const t0 = performance.now()
  const many = await mintTokens(ctx, MEMORY_TOKENS)
  const file = join(ctx.work, 'many-tokens.txt')
  writeFileSync(file, many.join('\n') + '\n')
  note(`${fmtInt(many.length)} tokens signed in ${((performance.now() - t0) / 1000).toFixed(1)} s with the gateway's key from Redis (src/oauth/jwt.ts signAccessToken, claims of a real token, fresh jti each)`)
  const before = await memoryOf(ctx.portcullis.pid)
  // wrk cycles through the file in order: a 3 s probe with these tokens gives the rate, then one run
  // long enough for every token (+15 %), at most MEMORY_MAX_S
  const probe = await load(ctx, 'memory-probe', ctx.portcullisPort, { tokensFile: file, durationS: 3 })
  const durationS = Math.min(MEMORY_MAX_S, Math.max(DURATION, Math.ceil(1.15 * MEMORY_TOKENS / probe.rps)))
  const res = await load(ctx, 'memory', ctx.portcullisPort, { tokensFile: file, durationS, countStatus: true })
  await sleep(2000)
  const after = await memoryOf(ctx.portcullis.pid)
  const covered = res.requests >= MEMORY_TOKENS ? 'every token used at least once' : `only ${fmtInt(res.requests)} requests within ${MEMORY_MAX_S} s (BENCH_MEMORY_MAX): not every token was used`
  out(`${fmtInt(res.rps)} req/s with distinct tokens (p50 ${fmtMs(res.p50)}, p99 ${fmtMs(res.p99)}) over ${durationS} s, ${fmtInt(res.requests)} requests, ${covered}${failures(res)}`)
  out(`portcullis RSS: ${before.rss.toFixed(0)} MiB before → ${after.rss.toFixed(0)} MiB after (peak VmHWM ${after.hwm.toFixed(0)} MiB)`)
  out()
  ctx.goals.set('memory', after.rss <= 200 && res.requests >= MEMORY_TOKENS, `${after.rss.toFixed(0)} MiB after (${before.rss.toFixed(0)} MiB before, peak ${after.hwm.toFixed(0)} MiB)${res.requests >= MEMORY_TOKENS ? '' : `; only ${fmtInt(res.requests)} requests: not every token was used`}; ${fmtInt(res.rps)} req/s with all-distinct tokens`)
}

// ---------------------------------------------------------------- (d) revocation propagation
function revocationMode (): { variable: string, replicated: string, strict: string } | null {
  // the gateway's env schema names the mode, if it has one
  const env = readFileSync(join(ROOT, 'src/config/env.ts'), 'utf8')
  const m = /(REVOCATION_MODE|REVOCATION)\s*:/.exec(env)
  if (m === null) return null
  const values = [...env.slice(m.index, m.index + 600).matchAll(/Type\.Literal\('([a-z-]+)'\)/g)].map((x) => x[1] as string)
  const replicated = values.find((v) => /replic|push|cache|local|stream/.test(v))
  const strict = values.find((v) => v !== replicated)
  return replicated === undefined || strict === undefined ? null : { variable: m[1] as string, replicated, strict }
}

async function revocation (ctx: Ctx): Promise<void> {
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

// ---------------------------------------------------------------- (e) metrics on vs off
async function metricsCost (ctx: Ctx): Promise<void> {
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
