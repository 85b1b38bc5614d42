// Starts `node bin/portcullis.js <command>` as a real process and waits until it listens (`serve`
// with the image's node flags, as the Dockerfile starts it).
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { imageNodeFlags, nodeChild } from './node-child.js'
import { ROOT_URL } from './root.js'

export const BIN = fileURLToPath(new URL('bin/portcullis.js', ROOT_URL))

export async function freePort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

export interface SpawnedGateway {
  child: ChildProcess
  url: string
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export async function spawnGateway (
  args: string[], env: Record<string, string>, readyPattern = /portcullis listening/, opts: { cwd?: string } = {}
): Promise<SpawnedGateway> {
  const port = env.PORT ?? String(await freePort())
  // `serve` as the image starts it (its node flags: the heap bound)
  const child = spawn(...nodeChild([...(args[0] === 'serve' ? imageNodeFlags() : []), BIN, ...args]), {
    ...(opts.cwd !== undefined && { cwd: opts.cwd }),
    // ADMIN_PORT=0 unless the test asks for one: parallel test files would all bind the default 9090
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: port, ADMIN_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  const deadline = Date.now() + 15000
  while (!readyPattern.test(out)) {
    if (child.exitCode !== null) throw new Error(`gateway exited early:\n${out}`)
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`gateway did not start:\n${out}`) }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { child, url: `http://127.0.0.1:${port}`, output: () => out, exited }
}
