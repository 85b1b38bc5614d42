// Every process the benchmark starts goes through here: spawned (optionally pinned to a CPU set
// with `taskset -c`), its output kept in a log file, and stopped by PID (SIGTERM, then SIGKILL
// after a grace period) by stopAll(), which run.ts calls in `finally` and on SIGINT/SIGTERM.
// An 'exit' hook SIGKILLs whatever is still alive, so even a crash leaves nothing behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { join } from 'node:path'

export interface Proc {
  name: string
  child: ChildProcess
  pid: number
  /** What the process wrote last (stdout + stderr; at least the last 2 MiB), all of it in `${logDir}/${name}.log`. */
  output: () => string
  exited: Promise<number | null>
  /** Resolves once stdout and stderr have ended too ('close'): after `exited`, output may still be arriving. */
  drained: Promise<void>
  alive: () => boolean
}

const live = new Map<number, Proc>()
let logDir = '.'
let exitHook = false

export function setLogDir (dir: string): void { logDir = dir }

/** The CPU list a role runs on, or null when not pinning. */
export interface Layout { gateway: string | null, tools: string | null, description: string }

export function cpuLayout (nproc: number, pinning: boolean): Layout {
  if (!pinning || nproc < 2) {
    return { gateway: null, tools: null, description: `no CPU pinning (${nproc} CPU${nproc === 1 ? '' : 's'}${pinning ? '' : ', BENCH_PIN=0'}): every process shares every core` }
  }
  const tools = nproc === 2 ? '1' : `1-${nproc - 1}`
  return {
    gateway: '0',
    tools,
    description: `gateway under test (each target) on CPU 0; load generator (wrk), upstream, Redis, login load and this orchestrator on CPU ${tools}`
  }
}

/** Pins this process (all its threads) to `cpus`; children spawned later inherit it. */
export function pinSelf (cpus: string | null): void {
  if (cpus === null) return
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' })
  if (r.status !== 0) process.stderr.write(`bench: could not pin the orchestrator to CPU ${cpus} (taskset exit ${r.status})\n`)
}

/** Characters of a process's output kept in memory (its whole output is in its log file). */
const OUTPUT_KEPT = 4 * 1024 * 1024

export interface SpawnOptions {
  cpus: string | null
  env?: NodeJS.ProcessEnv
  stdin?: string
  cwd?: string
  /** Keep output in memory (default true; wrk and big gateways may produce a lot). */
  keep?: boolean
}

export function start (name: string, cmd: string, args: string[], opts: SpawnOptions): Proc {
  if (!exitHook) {
    exitHook = true
    process.on('exit', () => {
      for (const p of live.values()) {
        try { process.kill(p.pid, 'SIGCONT'); process.kill(p.pid, 'SIGKILL') } catch { /* gone */ }
      }
    })
  }
  const [file, argv] = opts.cpus === null ? [cmd, args] : ['taskset', ['-c', opts.cpus, cmd, ...args]]
  // taskset execs the command in place: the PID we get is the command's own
  const child = spawn(file, argv, {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']
  })
  if (child.pid === undefined) throw new Error(`cannot start ${name} (${cmd})`)
  const log: WriteStream = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' })
  let out = ''
  const keep = opts.keep ?? true
  const onData = (chunk: Buffer): void => {
    log.write(chunk)
    // the tail only: a gateway at BENCH_LOG_LEVEL=info writes ~10,000 lines per reload of the big map,
    // and an unbounded string overflowed V8's string length
    if (keep) out = out.length > OUTPUT_KEPT ? out.slice(-OUTPUT_KEPT / 2) + chunk.toString() : out + chunk.toString()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  if (opts.stdin !== undefined) child.stdin?.end(opts.stdin)
  const pid = child.pid
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(pid)
      log.end()
      resolve(code ?? (signal !== null ? -1 : null))
    })
  })
  const drained = new Promise<void>((resolve) => { child.once('close', () => { resolve() }) })
  const proc: Proc = {
    name,
    child,
    pid,
    output: () => out,
    exited,
    drained,
    alive: () => live.has(pid)
  }
  live.set(pid, proc)
  return proc
}

/** Runs a command to completion; resolves with its exit code and output. */
export async function run (name: string, cmd: string, args: string[], opts: SpawnOptions): Promise<{ code: number | null, output: string }> {
  const p = start(name, cmd, args, opts)
  const code = await p.exited
  // 'exit' can come before the last chunk of stdout (wrk's summary line was lost once that way)
  await p.drained
  return { code, output: p.output() }
}

/** SIGTERM by PID, then SIGKILL after graceMs. */
export async function stop (p: Proc, graceMs = 3000): Promise<void> {
  if (!p.alive()) return
  try { process.kill(p.pid, 'SIGCONT'); process.kill(p.pid, 'SIGTERM') } catch { return }
  const timer = setTimeout(() => { try { process.kill(p.pid, 'SIGKILL') } catch { /* gone */ } }, graceMs)
  await p.exited
  clearTimeout(timer)
}

export async function stopAll (): Promise<void> {
  await Promise.all([...live.values()].reverse().map(async (p) => { await stop(p) }))
}

export function liveCount (): number { return live.size }

/** Resident set size (VmRSS) and peak (VmHWM) of a process, in MiB, from /proc/<pid>/status. */
export async function memoryOf (pid: number): Promise<{ rss: number, hwm: number }> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim() || 100)

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
export async function cpuSecondsOf (pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // fields after the parenthesised command name; utime and stime are fields 14 and 15
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK
}
