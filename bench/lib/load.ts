// The load generator: wrk (C, one thread, fixed connections, --latency, bench/wrk.lua), or
// autocannon (Node) when wrk is not installed. Either way one run returns req/s, p50, p99, max and
// the failed-request counts (non-2xx/3xx statuses, socket errors, timeouts).
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { run, type Proc } from './procs.js'

export interface LoadResult {
  rps: number
  requests: number
  p50: number // µs
  p90: number
  p99: number
  max: number
  /** responses outside 2xx/3xx */
  statusErrors: number
  /** connect/read/write errors and timeouts */
  socketErrors: number
  /** 4xx/5xx responses by status (only when countStatus was asked for; wrk only) */
  statuses: Record<string, number>
}

export interface LoadOptions {
  port: number
  path: string
  /** file with one token per line; requests cycle through them. null: no Authorization header. */
  tokensFile: string | null
  connections: number
  durationS: number
  cpus: string | null
  label: string
  /** Count 4xx/5xx by status code (costs the load generator some CPU; off for throughput runs). */
  countStatus?: boolean
  /** Offer this many requests per second in all (open loop, wrk only) instead of a closed loop. */
  rate?: number
  /** POST this form body (bench/wrk.lua BENCH_LOGIN_BODY) instead of GETs with tokens (wrk only). */
  loginBody?: string
}

const WRK_LUA = fileURLToPath(new URL('../wrk.lua', import.meta.url))

export function hasWrk (): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined
}

export async function loadRun (opts: LoadOptions, tool: 'wrk' | 'autocannon'): Promise<LoadResult> {
  return tool === 'wrk' ? await wrkRun(opts) : await autocannonRun(opts)
}

async function wrkRun (o: LoadOptions): Promise<LoadResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--timeout', '10s', '--latency', '-s', WRK_LUA, `http://127.0.0.1:${o.port}${o.path}`]
  const env = {
    BENCH_TOKENS_FILE: o.tokensFile ?? '',
    BENCH_PATH: o.path,
    BENCH_COUNT_STATUS: o.countStatus === true ? '1' : '0',
    ...(o.rate !== undefined && { BENCH_RATE: String(o.rate) }),
    ...(o.loginBody !== undefined && { BENCH_LOGIN_BODY: o.loginBody })
  }
  const { code, output } = await run(`wrk-${o.label}`, 'wrk', args, { cpus: o.cpus, env })
  const line = /BENCH_JSON (\{.*\})/.exec(output)
  if (code !== 0 || line === null) throw new Error(`wrk failed (exit ${code}): ${output.slice(-400)}`)
  const j = JSON.parse(line[1] as string) as Record<string, number> & { statuses?: Record<string, number> }
  const n = (k: string): number => (j[k] as number | undefined) ?? NaN
  return {
    rps: n('requests') / (n('duration_us') / 1e6),
    requests: n('requests'),
    p50: n('p50_us'),
    p90: n('p90_us'),
    p99: n('p99_us'),
    max: n('max_us'),
    statusErrors: n('status_errors'),
    socketErrors: n('connect_errors') + n('read_errors') + n('write_errors') + n('timeouts'),
    statuses: j.statuses ?? {}
  }
}

async function autocannonRun (o: LoadOptions): Promise<LoadResult> {
  if (o.loginBody !== undefined) throw new Error('the login load needs wrk (bench/wrk.lua BENCH_LOGIN_BODY)')
  const moduleName = 'autocannon' // untyped package: imported by name so strict TS does not need its types
  const { default: autocannon } = await import(moduleName) as { default: (opts: unknown) => Promise<unknown> }
  const tokens = o.tokensFile === null ? [] : readFileSync(o.tokensFile, 'utf8').split('\n').filter((t) => t !== '')
  let i = 0
  const result = await autocannon({
    url: `http://127.0.0.1:${o.port}${o.path}`,
    connections: o.connections,
    duration: o.durationS,
    ...(o.rate !== undefined && { overallRate: o.rate }),
    requests: [{
      setupRequest: (req: Record<string, unknown>) => {
        if (tokens.length === 0) return req
        const token = tokens[i++ % tokens.length] as string
        return { ...req, headers: { ...(req.headers as object), authorization: `Bearer ${token}` } }
      }
    }]
  } as never) as unknown as {
    requests: { total: number, average: number }, duration: number, non2xx: number, errors: number, timeouts: number,
    latency: { p50: number, p90: number, p99: number, max: number }
  }
  return {
    rps: result.requests.total / result.duration,
    requests: result.requests.total,
    p50: result.latency.p50 * 1000,
    p90: result.latency.p90 * 1000,
    p99: result.latency.p99 * 1000,
    max: result.latency.max * 1000,
    statusErrors: result.non2xx,
    socketErrors: result.errors + result.timeouts,
    statuses: {}
  }
}

export type { Proc }
