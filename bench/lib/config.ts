// bench/run.ts's knobs (env or --flag=value, listed at the top of bench/run.ts), the targets, the
// gateway's user and client, and the two output helpers. Read once, when the run starts.
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BENCH_RATE_LIMIT, BENCH_SCOPE, routesYaml as benchRoutes } from './routes.js'
import { imageNodeFlags } from '../../test/helpers/node-child.js'

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
export const BIN = join(ROOT, 'bin', 'portcullis.js')
/** Every Portcullis instance starts with the image's node options (the Dockerfile's NODE_OPTIONS: V8's heap bound), on its command line. */
export const NODE_FLAGS = imageNodeFlags()

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
export const QUICK = flag('quick') !== undefined || process.env.BENCH_QUICK === '1'
export const ROUNDS = Math.round(knob('rounds', 'BENCH_ROUNDS', QUICK ? 1 : 3))
export const DURATION = Math.round(knob('duration', 'BENCH_DURATION', QUICK ? 3 : 10))
export const CONNECTIONS = Math.round(knob('connections', 'BENCH_CONNECTIONS', 64))
export const WARMUP = Math.round(knob('warmup', 'BENCH_WARMUP', QUICK ? 5 : 12))
export const EXTRA_ROUNDS = Math.min(ROUNDS, 3)
export const MEMORY_MAX_S = Math.round(knob('memory-max', 'BENCH_MEMORY_MAX', 90))
export const MEMORY_TOKENS = Math.round(knob('memory-tokens', 'BENCH_MEMORY_TOKENS', 100_000))
export const ROUTE_COUNT = Math.round(knob('routes', 'BENCH_ROUTES', 10_000))
export const LOGIN_RATE = knob('login-rate', 'BENCH_LOGIN_RATE', 20)
/** wrk connections for phase (a)'s logins: each waits for its slot of the schedule (bench/wrk.lua BENCH_RATE). */
export const LOGIN_CONNECTIONS = 8
/**
 * Phase (a)'s quiet/busy pairs and the seconds of each run: the p99 of one few-second run on a shared
 * 2-vCPU VM ranges ×3 between runs with nothing changed (bench/README.md "Native bcrypt"), so the
 * verdict is the median over many short pairs rather than over the three rounds of the other phases.
 */
export const LOGIN_PAIRS = Math.round(knob('login-pairs', 'BENCH_LOGIN_PAIRS', QUICK ? 2 : 8))
/**
 * Phase (a)'s controls (no verdict). BENCH_LOGIN_CONTROL=hash-load: the busy runs get, instead of the
 * logins, their hashing alone (LOGIN_RATE cost-10 compares per second) in a separate process at nice 19
 * on every core (bench/hash-load.ts): what the hashing costs the proxied p99 whatever the gateway does.
 * =bad-grant: the same second wrk at the same rate, but each request is refused at once
 * (`grant_type=bogus`, 400): what sending and answering 20 requests/s costs, without the login.
 * =wrk-elsewhere: the same second wrk at the same rate, sent to the upstream instead of the gateway:
 * what the second load generator costs by itself.
 */
export const LOGIN_CONTROL = (['hash-load', 'bad-grant', 'wrk-elsewhere'] as const).find((c) => c === process.env.BENCH_LOGIN_CONTROL) ?? null
export const CONTROL_TEXT = {
  'hash-load': `the hashing of ${LOGIN_RATE} logins/s in a separate nice-19 process, no logins`,
  'bad-grant': `${LOGIN_RATE} refused token requests/s (grant_type=bogus), no logins`,
  'wrk-elsewhere': `the second wrk's ${LOGIN_RATE} requests/s sent to the upstream, not the gateway`
}
export const LOGIN_PAIR_S = Math.round(knob('login-pair-duration', 'BENCH_LOGIN_PAIR_DURATION', Math.max(3, Math.round(DURATION / 2))))
/** Phase (a)'s open-loop proxied load, as a share of the all-core instance's closed-loop req/s. */
export const LOGIN_PROXY_SHARE = knob('login-proxy-share', 'BENCH_LOGIN_PROXY_SHARE', 25) / 100
export const TOKEN_COUNT = Math.round(knob('token-count', 'BENCH_TOKEN_COUNT', 8))
export const REVOCATIONS = Math.round(knob('revocations', 'BENCH_REVOCATIONS', QUICK ? 50 : 200))
export const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn'
export const PIN = process.env.BENCH_PIN !== '0'
export const PROFILE = process.env.BENCH_PROFILE === '1' // V8 CPU profile of the portcullis instance (written at its exit; implies BENCH_KEEP)
export const KEEP = process.env.BENCH_KEEP === '1' || PROFILE
// portcullis: the default configuration (no REVOCATION_MODE given); portcullis-strict and
// portcullis-replicated: the same gateway with REVOCATION_MODE set explicitly, so their labels stay true
// whatever the default is
const ALL_TARGETS = ['direct', 'haproxy-jwt', 'fastify-bare', 'naive-stack', 'portcullis', 'portcullis-strict', 'portcullis-replicated'] as const
/** Targets run only when BENCH_TARGETS names them (`undici-direct`: the floor under fastify-bare, bench/README.md). */
const OPTIONAL_TARGETS = ['undici-direct'] as const
export type Target = typeof ALL_TARGETS[number] | typeof OPTIONAL_TARGETS[number]
const KNOWN_TARGETS: readonly string[] = [...ALL_TARGETS, ...OPTIONAL_TARGETS]
export const TARGETS: Target[] = (process.env.BENCH_TARGETS ?? flag('targets') ?? ALL_TARGETS.join(','))
  .split(',').map((s) => s.trim()).filter((s): s is Target => KNOWN_TARGETS.includes(s))
/** Targets without auth: no token is sent to them, and the refusal checks are skipped. */
export const NO_AUTH: ReadonlySet<string> = new Set(['direct', 'fastify-bare', 'undici-direct'])
if (!TARGETS.includes('portcullis')) TARGETS.push('portcullis') // the extras and the ratios need it
export const EXTRAS = new Set((process.env.BENCH_EXTRAS ?? flag('extras') ?? 'login,routes,memory,revocation,metrics,startup').split(',').map((s) => s.trim()))
export const PATH = '/orders/42'
export const SCOPE = BENCH_SCOPE
export const AUDIENCE = 'portcullis'
/** BENCH_RATE_LIMIT=0: the measured route `/orders/*` has no rate_limit (to profile the rest of the path). */
const ROUTE_RATE_LIMIT = process.env.BENCH_RATE_LIMIT !== '0'
export const RATE_LIMIT = BENCH_RATE_LIMIT
/** The bench's route map (bench/lib/routes.ts); with BENCH_RATE_LIMIT=0, `/orders/*` without its rate_limit. */
export function routesYaml (upstreamPort: number, extra: number): string {
  return benchRoutes(upstreamPort, extra, { ordersRateLimit: ROUTE_RATE_LIMIT })
}
export const USER = 'bench'
export const PASSWORD = 'bench-password-0123'
export const CLIENT = 'bench-app'

export const out = (s = ''): void => { process.stdout.write(s + '\n') }
export const note = (s: string): void => { process.stdout.write(`  · ${s}\n`) }
