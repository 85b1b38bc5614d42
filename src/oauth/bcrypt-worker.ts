// The bcrypt work itself, run in a piscina worker thread (src/oauth/passwords.ts) so a login's
// ~50-100 ms of hashing never blocks the event loop that proxies requests. Inputs are already
// checked by passwords.ts (length, cost); this file only hashes and compares. One default export
// (piscina's named-handler lookup does not go through the tsx loader).
// The Sync calls are deliberate: bcrypt's async ones would hand the work to libuv's shared thread
// pool, away from this thread and the priority it set for itself below.
import { setPriority } from 'node:os'
import bcrypt from 'bcrypt'
import { workerData } from 'piscina'

/** What passwords.ts hands every worker at its start. */
export interface BcryptWorkerData { nice: number }

// pid 0: the calling thread on Linux, where the nice value is per thread; the event loop keeps its own.
// Raising a nice value needs no privilege; where the OS refuses anyway, hashing runs at normal priority.
const nice = (workerData as BcryptWorkerData | undefined)?.nice ?? 0
if (nice > 0) {
  try { setPriority(0, nice) } catch { /* normal priority */ }
}

export type BcryptTask =
  | { op: 'hash', plain: string, cost: number }
  | { op: 'compare', plain: string, hash: string }

export default function run (task: BcryptTask): string | boolean {
  return task.op === 'hash' ? bcrypt.hashSync(task.plain, task.cost) : bcrypt.compareSync(task.plain, task.hash)
}
