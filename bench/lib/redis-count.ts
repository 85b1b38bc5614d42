// Counting the Redis commands a gateway sends (bench/redis-commands.ts): MONITOR on every master,
// commands per operation with the idle background subtracted, and redis-benchmark of one command.
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { run } from './procs.js'

export interface Seen { name: string, args: string[], fromScript: boolean }

/** Every command the masters execute while `work` runs, from MONITOR on each (script-internal ones marked). */
export async function monitored (target: { masters: () => Promise<number[]> }, work: () => Promise<void>): Promise<Seen[]> {
  const seen: Seen[] = []
  const open: Array<{ disconnect: () => void }> = []
  for (const port of await target.masters()) {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true })
    const monitor = await client.monitor()
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      seen.push({ name: String(args[0]).toUpperCase(), args: args.slice(1).map(String), fromScript: source === 'lua' })
    })
    open.push(monitor, client)
  }
  await sleep(100) // MONITOR is on before the work starts
  await work()
  await sleep(100)
  for (const c of open) c.disconnect()
  return seen
}

/**
 * Sent by timers only, never by an operation: the feed's heartbeat and readiness PING, the replica
 * check's INFO, the Cluster client's slot refresh (CLUSTER, CLIENT), the epoch check's GET of its copies
 * (a burst of 256 a second on a Cluster, too coarse to subtract in proportion). Counted in the idle line.
 */
const timerOnly = (s: Seen): boolean => ['PING', 'INFO', 'CLUSTER', 'CLIENT'].includes(s.name) || (s.name === 'GET' && /epoch$/.test(s.args[0] ?? ''))

/**
 * Commands sent by the gateway (not from inside scripts), per name, per operation, the idle
 * background subtracted in proportion to the duration; timer-only ones left out unless `withTimers`.
 */
export function perOperation (seen: Seen[], idle: Seen[], idleMs: number, workMs: number, n: number, withTimers = false): Map<string, number> {
  const count = (list: Seen[]): Map<string, number> => {
    const m = new Map<string, number>()
    for (const s of list) if (!s.fromScript && (withTimers || !timerOnly(s))) m.set(s.name, (m.get(s.name) ?? 0) + 1)
    return m
  }
  const busy = count(seen)
  const background = count(idle)
  const result = new Map<string, number>()
  for (const [name, c] of busy) {
    const corrected = c - (background.get(name) ?? 0) * (workMs / idleMs)
    if (corrected / n >= 0.05) result.set(name, corrected / n)
  }
  return result
}

export const fmt = (m: Map<string, number>): string => {
  const total = [...m.values()].reduce((a, b) => a + b, 0)
  return `${total.toFixed(2)} (${[...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')})`
}

/** Operations per second one redis-server executes of one command (50 clients, no pipelining). */
export async function benchmark (port: number, ops: number, command: string[]): Promise<number> {
  const r = await run('redis-benchmark', 'redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-c', '50', '-n', String(ops), '-q', '--csv', ...command], { cpus: null })
  const lines = r.output.trim().split('\n').filter((l) => /^"/.test(l))
  const last = lines.at(-1)?.split('","')
  const rps = Number(last?.[1]?.replace(/"/g, ''))
  if (r.code !== 0 || !Number.isFinite(rps)) throw new Error(`redis-benchmark ${command.join(' ')}: ${r.output.slice(-400)}`)
  return rps
}

/** The distinct commands one proxied request sends, with their real arguments (the last occurrence of each). */
export function requestCommands (sample: Seen[], perRequest: Map<string, number>): Array<{ name: string, args: string[], perRequest: number }> {
  const result: Array<{ name: string, args: string[], perRequest: number }> = []
  for (const [name, n] of perRequest) {
    const last = [...sample].reverse().find((s) => s.name === name)
    if (last !== undefined) result.push({ name, args: last.args, perRequest: n })
  }
  return result
}
