// A Redis store in a process of its own (the built store, `dist/`, as `serve` loads it), for tests
// whose observable is that process: whether it ends once the store is closed, and what is still armed
// if it does not. The script reads its target from the STORE_TARGET environment variable (JSON).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import type { RedisTarget } from '../../src/store/redis/target.js'
import { nodeChild } from './node-child.js'
import { ROOT_URL } from './root.js'

const OPEN = `import { RedisStore } from ${JSON.stringify(new URL('dist/store/redis/index.js', ROOT_URL).href)}
const target = JSON.parse(process.env.STORE_TARGET)`

/**
 * Opens the store, waits for ready() up to `readyMs`, closes it and prints `ready` or `not ready`; if
 * the process is still alive a second later (every disconnect timer of the store is far shorter), it
 * prints `alive 1 s after close:` and what keeps it alive.
 */
export function openAndCloseScript (opts: { timeoutMs: number, readyMs: number }): string {
  return `${OPEN}
const store = new RedisStore({ target, timeoutMs: ${opts.timeoutMs}, prefix: 'closing:' })
const ready = await store.ready(${opts.readyMs})
await store.close()
process.stdout.write(ready ? 'ready\\n' : 'not ready\\n')
setTimeout(() => { process.stdout.write('alive 1 s after close: ' + JSON.stringify(process.getActiveResourcesInfo()) + '\\n') }, 1000).unref()
`
}

/**
 * Opens the store and prints `ready` once it is; SIGUSR2 closes it, then it prints `closed`. A signal
 * listener does not keep a process alive: once closed, it ends unless something of the store's is left.
 */
export function closeOnSignalScript (opts: { timeoutMs: number }): string {
  return `${OPEN}
const store = new RedisStore({ target, timeoutMs: ${opts.timeoutMs}, prefix: 'closing:' })
if (!await store.ready(10000)) { process.stdout.write('not ready\\n'); process.exit(1) }
process.once('SIGUSR2', () => { void store.close().then(() => { process.stdout.write('closed\\n') }) })
process.stdout.write('ready\\n')
`
}

/** Starts `script` on `target`: its process, what it printed so far, and its exit code once it ends. */
export function startStoreChild (script: string, target: RedisTarget): { child: ChildProcess, out: () => string, exited: Promise<number | null> } {
  const child = spawn(...nodeChild(['--input-type=module', '-e', script]), { env: { STORE_TARGET: JSON.stringify(target) }, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += String(d) })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return { child, out: () => out, exited }
}
