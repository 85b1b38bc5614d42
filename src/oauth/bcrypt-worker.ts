// The bcrypt work itself, run in a piscina worker thread (src/oauth/passwords.ts) so a login's
// ~50-100 ms of hashing never blocks the event loop that proxies requests. Inputs are already
// checked by passwords.ts (length, cost); this file only hashes and compares. One default export
// (piscina's named-handler lookup does not go through the tsx loader).
import bcrypt from 'bcryptjs'

export type BcryptTask =
  | { op: 'hash', plain: string, cost: number }
  | { op: 'compare', plain: string, hash: string }

export default async function run (task: BcryptTask): Promise<string | boolean> {
  return task.op === 'hash' ? await bcrypt.hash(task.plain, task.cost) : await bcrypt.compare(task.plain, task.hash)
}
