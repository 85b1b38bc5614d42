// Starts a private redis-server on a free loopback port for one test file. A test never
// touches a Redis it did not start (never 127.0.0.1:6379). The child is killed when the
// test process exits, so a failing test leaves no stray server behind: by an 'exit' hook,
// and where util-linux `setpriv` exists also by the kernel (PR_SET_PDEATHSIG), which covers
// a test process killed by a signal (e.g. a tap timeout). The child and its pipes are
// unref'd so a forgotten handle never keeps the test process alive (spawnDying, redis-process.ts).

import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnDying } from './redis-process.js'

export interface RedisHandle {
  url: string
  port: number
  /** pid of the current redis-server process (changes after restart). */
  readonly pid: number
  /** SIGTERM, then wait for exit. Idempotent. */
  stop(): Promise<void>
  /** SIGSTOP: a frozen Redis (connections stay open, nothing answers). */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** SIGKILL, then wait for exit. */
  kill(): Promise<void>
  /** Starts again on the same port (after stop or kill). */
  restart(): Promise<void>
}

const READY_DEADLINE_MS = 5000
/** A port nothing listens on right now (listen on 0, read it, close). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

/** Resolves true when something on `port` answers PING with +PONG. */
async function answersPing (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
    socket.setTimeout(500, () => { done(false) })
    socket.once('error', () => { done(false) })
    socket.once('connect', () => { socket.write('PING\r\n') })
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}

interface Running { child: ChildProcess; exited: Promise<void>; output: () => string }

export interface RedisOptions {
  port?: number
  /**
   * Append-only file fsynced on every write, so a SIGKILL loses nothing acknowledged and a restart
   * brings the data (and the store epoch) back. Default: no persistence, a restart starts empty.
   */
  persistent?: boolean
  /** More redis-server arguments, e.g. ['--maxmemory-policy', 'allkeys-lru']. */
  args?: string[]
}

function spawnRedis (port: number, dir: string, opts: RedisOptions): Running {
  const persistence = opts.persistent === true ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
  const args = ['--save', '', ...persistence, '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, ...opts.args ?? []]
  let output = ''
  const { child, exited } = spawnDying('redis-server', args, { onOutput: (c) => { output += c } })
  return { child, exited, output: () => output }
}

/** Spawns redis-server on `port` and waits until it answers PING; rejects (and kills it) otherwise. */
async function launch (port: number, dir: string, opts: RedisOptions): Promise<Running> {
  const running = spawnRedis(port, dir, opts)
  let gone = false
  void running.exited.then(() => { gone = true })
  const deadline = Date.now() + READY_DEADLINE_MS
  while (Date.now() < deadline) {
    if (gone) break
    if (await answersPing(port)) {
      if (!gone) return running
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  running.child.ref()
  running.child.kill('SIGKILL')
  await running.exited
  const err = new Error(`redis-server on port ${port} did not answer PING: ${running.output().trim().split('\n').slice(-3).join(' | ')}`)
  if (/Address already in use/i.test(running.output())) (err as NodeJS.ErrnoException).code = 'EADDRINUSE'
  throw err
}

export async function startRedis (opts: RedisOptions = {}): Promise<RedisHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'))
  let port = opts.port ?? 0
  let running: Running | undefined
  for (let attempt = 0; running === undefined; attempt++) {
    const candidate = opts.port ?? await freePort()
    try {
      running = await launch(candidate, dir, opts)
      port = candidate
    } catch (err) {
      // Someone took the port between our probe and redis-server's bind: try another one.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || opts.port !== undefined || attempt >= 5) {
        rmSync(dir, { recursive: true, force: true })
        throw err
      }
    }
  }
  let current: Running | undefined = running

  async function signalAndWait (signal: NodeJS.Signals): Promise<void> {
    const r = current
    if (r === undefined) return
    current = undefined
    if (r.child.exitCode === null && r.child.signalCode === null) {
      r.child.ref() // keep the test process alive until the child is gone
      r.child.kill('SIGCONT') // a paused process must run to handle SIGTERM
      r.child.kill(signal)
    }
    await r.exited
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid () {
      if (current?.child.pid === undefined) throw new Error('redis-server is not running')
      return current.child.pid
    },
    async stop () {
      await signalAndWait('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    },
    pause () { current?.child.kill('SIGSTOP') },
    resume () { current?.child.kill('SIGCONT') },
    async kill () { await signalAndWait('SIGKILL') },
    async restart () {
      await signalAndWait('SIGTERM')
      current = await launch(port, dir, opts)
    }
  }
}
