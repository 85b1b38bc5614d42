// The bcrypt work itself, run in a piscina worker thread (src/oauth/passwords.ts) so a login's
// ~50-100 ms of hashing never blocks the event loop that proxies requests. Inputs are already
// checked by passwords.ts (length, cost); this file only hashes and compares. One default export
// (piscina's named-handler lookup does not go through the tsx loader).
// The Sync calls are deliberate: bcrypt's async ones would hand the work to libuv's shared thread
// pool, away from this thread and the priority it set for itself below.
import { execFileSync } from 'node:child_process'
import { readFileSync, readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import bcrypt from 'bcrypt'
import { workerData } from 'piscina'

/** What passwords.ts hands every worker at its start. */
export interface BcryptWorkerData { nice: number, idle?: boolean }

const data = workerData as BcryptWorkerData | undefined
const wantIdle = data?.idle === true

/**
 * A task that waited, runnable but not running, more than this many times its own CPU time was
 * starved by SCHED_IDLE: busy threads of the normal policy left it almost nothing (a SCHED_IDLE
 * thread weighs 3 against nice 0's 1024, so ~340 times its CPU time beside one busy thread). At
 * BCRYPT_NICE 10 the same thread would wait ~9 times its CPU time there, so past 15 the idle policy
 * costs logins far more than the nice value would.
 */
export const STARVED_WAIT_RATIO = 15
/** After a starved task, the worker runs this many tasks at BCRYPT_NICE, then tries SCHED_IDLE again. */
export const STARVED_BACK_OFF_TASKS = 50

// SCHED_IDLE (BCRYPT_SCHED_IDLE=1) when the OS grants it and this thread's wait can be read (the
// starvation guard needs it), else the nice value.
let idle = wantIdle && schedStat() !== null && setPolicy('--idle')
if (!idle) applyNice()
let niceTasksLeft = 0

/** The nice value (pid 0: this thread on Linux, where it is per thread; the event loop keeps its own). */
function applyNice (): void {
  // Raising a nice value needs no privilege; where the OS refuses anyway, hashing runs at normal priority.
  const nice = data?.nice ?? 0
  if (nice > 0) {
    try { setPriority(0, nice) } catch { /* normal priority */ }
  }
}

/**
 * Puts this thread (only this one: a Linux scheduling policy is per thread) under SCHED_IDLE
 * (`--idle`) or back under the normal policy (`--other`). Under SCHED_IDLE it runs on CPU time no
 * other thread wants, and a waking thread of a normal policy (the event loop) preempts it at once,
 * where a nice value only lowers its share. Any thread may make these switches without privilege.
 * Node has no call for it, so util-linux's `chrt` does it, given this thread's id (`/proc/thread-self`
 * links to `<pid>/task/<tid>`): a few ms, at the worker's start and when the guard below switches.
 */
function setPolicy (policy: '--idle' | '--other'): boolean {
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop() ?? ''
    if (!/^[0-9]+$/.test(tid)) return false
    execFileSync('chrt', [policy, '--pid', '0', tid], { stdio: 'ignore', timeout: 5000 })
    return true
  } catch {
    return false // not Linux, no chrt, or refused (a seccomp profile): the nice value applies
  }
}

/** This thread's time on a CPU and time runnable but waiting for one, in ns (/proc/thread-self/schedstat). */
function schedStat (): { run: number, wait: number } | null {
  try {
    const [run, wait] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number)
    return run !== undefined && wait !== undefined && Number.isFinite(run) && Number.isFinite(wait) ? { run, wait } : null
  } catch {
    return null
  }
}

/**
 * The starvation guard: a task starved under SCHED_IDLE sends the worker back to the normal policy
 * at BCRYPT_NICE for the next STARVED_BACK_OFF_TASKS tasks, so logins keep at least the share the
 * nice value gives them while other work saturates the cores; then it tries SCHED_IDLE again.
 */
function afterTask (before: { run: number, wait: number } | null): void {
  if (idle) {
    const after = schedStat()
    if (before === null || after === null) return
    if (after.wait - before.wait > STARVED_WAIT_RATIO * Math.max(after.run - before.run, 1)) {
      if (!setPolicy('--other')) return
      idle = false
      applyNice()
      niceTasksLeft = STARVED_BACK_OFF_TASKS
    }
  } else if (wantIdle && niceTasksLeft > 0 && --niceTasksLeft === 0) {
    idle = setPolicy('--idle')
  }
}

export type BcryptTask =
  | { op: 'hash', plain: string, cost: number }
  | { op: 'compare', plain: string, hash: string }

export default function run (task: BcryptTask): string | boolean {
  const before = idle ? schedStat() : null
  try {
    return task.op === 'hash' ? bcrypt.hashSync(task.plain, task.cost) : bcrypt.compareSync(task.plain, task.hash)
  } finally {
    afterTask(before)
  }
}
