// The bcrypt work itself, run in a piscina worker thread (src/oauth/passwords.ts) so a login's
// ~50-100 ms of hashing never blocks the event loop that proxies requests. Inputs are already
// checked by passwords.ts (length, cost); this file only hashes and compares. One default export
// (piscina's named-handler lookup does not go through the tsx loader).
// The Sync calls are deliberate: bcrypt's async ones would hand the work to libuv's shared thread
// pool, away from this thread and the priority it set for itself below.
import { execFileSync } from 'node:child_process'
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import bcrypt from 'bcrypt'
import { workerData } from 'piscina'

/** What passwords.ts hands every worker at its start. */
export interface BcryptWorkerData { nice: number, idle?: boolean }

const data = workerData as BcryptWorkerData | undefined
// SCHED_IDLE (BCRYPT_SCHED_IDLE=1) when the OS grants it, else the nice value.
if (data?.idle !== true || !schedIdle()) {
  // pid 0: the calling thread on Linux, where the nice value is per thread; the event loop keeps its own.
  // Raising a nice value needs no privilege; where the OS refuses anyway, hashing runs at normal priority.
  const nice = data?.nice ?? 0
  if (nice > 0) {
    try { setPriority(0, nice) } catch { /* normal priority */ }
  }
}

/**
 * Puts this thread (only this one: a Linux scheduling policy is per thread) under SCHED_IDLE: it runs
 * on CPU time no other thread wants, and a waking thread of a normal policy (the event loop) preempts
 * it at once, where a nice value only lowers its share. Any thread may switch itself to SCHED_IDLE
 * without privilege. Node has no call for it, so util-linux's `chrt` does it, given this thread's id
 * (`/proc/thread-self` links to `<pid>/task/<tid>`); once per worker, a few ms at its start.
 */
function schedIdle (): boolean {
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop() ?? ''
    if (!/^[0-9]+$/.test(tid)) return false
    execFileSync('chrt', ['--idle', '--pid', '0', tid], { stdio: 'ignore', timeout: 5000 })
    return true
  } catch {
    return false // not Linux, no chrt, or refused (a seccomp profile): the nice value applies
  }
}

export type BcryptTask =
  | { op: 'hash', plain: string, cost: number }
  | { op: 'compare', plain: string, hash: string }

export default function run (task: BcryptTask): string | boolean {
  return task.op === 'hash' ? bcrypt.hashSync(task.plain, task.cost) : bcrypt.compareSync(task.plain, task.hash)
}
