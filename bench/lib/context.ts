// What bench/run.ts's phases share: the run's context (Ctx), one load run with the run's settings,
// failed requests as text, stopping the idle targets during a phase, and waiting for a process to idle.
import { setTimeout as sleep } from 'node:timers/promises'
import type { RedisHandle } from '../../test/helpers/redis-server.js'
import { CONNECTIONS, DURATION, PATH, type Target } from './config.js'
import type { RouteDir } from './gateway.js'
import type { Goals } from './goals.js'
import { loadRun, type LoadResult } from './load.js'
import { cpuSecondsOf, type Proc } from './procs.js'

export interface Ctx {
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

export async function load (ctx: Ctx, label: string, port: number, opts: { tokensFile?: string | null, durationS?: number, countStatus?: boolean, rate?: number } = {}): Promise<LoadResult> {
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

export function failures (r: LoadResult): string {
  const by = Object.entries(r.statuses).map(([k, v]) => `${v}× ${k}`).join(', ')
  return r.statusErrors + r.socketErrors === 0 ? '' : ` (FAILED REQUESTS: ${r.statusErrors} non-2xx/3xx${by === '' ? '' : ` [${by}]`}, ${r.socketErrors} socket errors/timeouts)`
}

/**
 * Runs `fn` with the throughput targets it does not use stopped (SIGSTOP) and continues them after.
 * They sit idle on the gateway's CPU once the main rounds are over, where their timers and V8's
 * idle-time collections after the heavy runs can land in the runs of phases (a) and (b) (the upstream,
 * `direct`, always keeps serving).
 */
export async function withBystandersStopped (ctx: Ctx, uses: Target[], fn: () => Promise<void>): Promise<void> {
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
export async function settled (pid: number): Promise<number> {
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
