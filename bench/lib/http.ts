// bench/run.ts's HTTP helpers: one request to 127.0.0.1, and waiting until a started process answers.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Proc } from './procs.js'

// ---------------------------------------------------------------- HTTP helpers
export interface Reply { status: number, headers: Headers, body: string }
export async function http (port: number, path: string, init: RequestInit = {}): Promise<Reply> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(30_000) })
  return { status: r.status, headers: r.headers, body: await r.text() }
}
export async function waitFor (what: string, proc: Proc | null, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc !== null && !proc.alive()) throw new Error(`${what} exited during start:\n${proc.output().slice(-1500)}`)
    try { if (await probe()) return } catch { /* not yet */ }
    await sleep(50)
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms${proc !== null ? `:\n${proc.output().slice(-1500)}` : ''}`)
}
export const answers = (port: number, path = '/', ok = (s: number) => s > 0) => async () => ok((await http(port, path)).status)
