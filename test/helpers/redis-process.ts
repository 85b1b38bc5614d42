// The pieces the Redis topologies of redis-topology.ts are built from: one redis-server or
// redis-sentinel process (RedisProcess: started, polled until it answers, signalled and stopped by
// pid, never by name), the arguments every server gets (ACL user, TLS with a throwaway CA), free
// loopback ports below the ephemeral range, and redis-cli. Every child dies with the test process
// (an 'exit' hook, and PR_SET_PDEATHSIG through util-linux `setpriv` where it exists).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { Redis } from 'ioredis'

export const READY_DEADLINE_MS = 20_000
const live = new Set<ChildProcess>()
let exitHookInstalled = false
let setprivAvailable: boolean | undefined

/**
 * Spawns `bin args` as a child that dies with this test process: by an 'exit' hook, and where
 * util-linux `setpriv` exists also by the kernel (PR_SET_PDEATHSIG; setpriv execs the binary in place,
 * same pid), which covers a test process killed by a signal (a tap timeout). The child and its pipes
 * are unref'd, so a forgotten one never keeps the test process alive; `onOutput` gets what it prints.
 */
export function spawnDying (bin: string, args: string[], opts: { cwd?: string, onOutput: (chunk: string) => void }): { child: ChildProcess, exited: Promise<void> } {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', () => {
      for (const child of live) {
        try { child.kill('SIGCONT'); child.kill('SIGKILL') } catch { /* already gone */ }
      }
    })
  }
  setprivAvailable ??= spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0
  const child = setprivAvailable
    ? spawn('setpriv', ['--pdeathsig', 'KILL', bin, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  child.unref()
  for (const s of [child.stdout, child.stderr]) {
    (s as unknown as { unref?: () => void } | null)?.unref?.()
    s?.on('data', (c: Buffer) => { opts.onOutput(c.toString()) })
  }
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => { live.delete(child); resolve() })
    child.once('error', () => { live.delete(child); resolve() })
  })
  return { child, exited }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Polls `probe` every 25 ms until it resolves true; rejects after `ms` naming `what`. */
export async function until (what: string, probe: () => Promise<boolean>, ms = READY_DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    try { if (await probe()) return } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

/** What every test needs to reach a node: TLS and ACL credentials when the topology uses them. */
export interface NodeAccess {
  username?: string
  password?: string
  tls?: { ca: string, cert: string, key: string }
}

/** One redis-server or redis-sentinel process. */
export class RedisProcess {
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  #output = ''

  constructor (readonly port: number, readonly dir: string, readonly bin: 'redis-server' | 'redis-sentinel', readonly args: string[], readonly access: NodeAccess) {}

  get pid (): number {
    const pid = this.#child?.pid
    if (pid === undefined || !this.running) throw new Error(`${this.bin} on ${this.port} is not running`)
    return pid
  }

  get running (): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
  }

  get output (): string { return this.#output }

  /** Spawns the process (again after kill/stop) and waits until it answers PING. */
  async start (): Promise<void> {
    const { child, exited } = spawnDying(this.bin, this.args, { cwd: this.dir, onOutput: (c) => { this.#output = (this.#output + c).slice(-4000) } })
    this.#exited = exited
    this.#child = child
    try {
      await until(`${this.bin} on ${this.port} to answer PING`, async () => {
        if (!this.running) throw new Error('exited')
        return await this.call(['PING']) === 'PONG'
      }, 10_000)
    } catch (err) {
      await this.kill()
      throw new Error(`${(err as Error).message}: ${this.#output.trim().split('\n').slice(-3).join(' | ')}`)
    }
  }

  /** One command on a short-lived connection (tests and polling only). */
  async call (cmd: string[]): Promise<unknown> {
    const r = this.client()
    try {
      await r.connect()
      return await r.call(cmd[0] as string, ...cmd.slice(1))
    } finally {
      r.disconnect()
    }
  }

  /** A plain ioredis connection to this one process (caller disconnects it). */
  client (): Redis {
    const r = new Redis({
      host: '127.0.0.1',
      port: this.port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      connectTimeout: 1000,
      commandTimeout: 2000,
      ...(this.bin === 'redis-server' && this.access.username !== undefined && { username: this.access.username }),
      ...(this.bin === 'redis-server' && this.access.password !== undefined && { password: this.access.password }),
      ...(this.access.tls !== undefined && { tls: { ca: this.access.tls.ca, cert: this.access.tls.cert, key: this.access.tls.key } })
    })
    r.on('error', () => { /* the caller sees the failed command */ })
    return r
  }

  /** SIGKILL (after SIGCONT), then wait for the exit. */
  async kill (): Promise<void> { await this.#signal('SIGKILL') }
  /** SIGTERM, then wait for the exit. */
  async stop (): Promise<void> { await this.#signal('SIGTERM') }
  pause (): void { this.#child?.kill('SIGSTOP') }
  resume (): void { this.#child?.kill('SIGCONT') }

  async #signal (signal: NodeJS.Signals): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    if (this.running) {
      child.ref()
      child.kill('SIGCONT')
      child.kill(signal)
    }
    await this.#exited
  }
}

/** Self-signed CA plus one certificate for 127.0.0.1, made with the openssl CLI (node:crypto cannot make X.509). */
export function makeTlsFiles (dir: string): { caFile: string, certFile: string, keyFile: string } {
  mkdirSync(dir, { recursive: true })
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`)
  }
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=portcullis-test-ca', '-keyout', 'ca.key', '-out', 'ca.crt'])
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'redis.key', '-out', 'redis.csr'])
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n')
  run(['x509', '-req', '-in', 'redis.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'redis.crt'])
  return { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'redis.crt'), keyFile: join(dir, 'redis.key') }
}

export interface TopologyOptions {
  /** An ACL user created on every redis-server (`--user NAME on >PASSWORD ~* &* +@all`), default user off. */
  acl?: { username: string, password: string }
  /** TLS only (port 0): every server, replica link, cluster bus and sentinel speaks TLS with a test CA. */
  tls?: boolean
  /** More redis-server arguments. */
  args?: string[]
}

export interface Prepared { args: string[], access: NodeAccess, tlsFiles: ReturnType<typeof makeTlsFiles> | null }

export function prepare (root: string, opts: TopologyOptions): Prepared {
  // repl-diskless-sync-delay 0: a replica's first sync starts at once (the default waits 5 s for more replicas)
  const args: string[] = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0']
  const access: NodeAccess = {}
  let tlsFiles: ReturnType<typeof makeTlsFiles> | null = null
  if (opts.acl !== undefined) {
    const { username, password } = opts.acl
    args.push('--user', 'default', 'off', '--user', username, 'on', `>${password}`, '~*', '&*', '+@all',
      '--masteruser', username, '--masterauth', password)
    access.username = username
    access.password = password
  }
  if (opts.tls === true) {
    tlsFiles = makeTlsFiles(join(root, 'tls'))
    args.push('--tls-cert-file', tlsFiles.certFile, '--tls-key-file', tlsFiles.keyFile, '--tls-ca-cert-file', tlsFiles.caFile,
      '--tls-replication', 'yes', '--tls-auth-clients', 'optional')
    const read = (f: string): string => spawnSync('cat', [f], { encoding: 'utf8' }).stdout
    access.tls = { ca: read(tlsFiles.caFile), cert: read(tlsFiles.certFile), key: read(tlsFiles.keyFile) }
  }
  args.push(...opts.args ?? [])
  return { args, access, tlsFiles }
}

export function portArgs (port: number, tls: boolean): string[] {
  return tls ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)]
}

/** Resolves true when nothing listens on 127.0.0.1:`port` (bound and released at once). */
async function bindable (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => { resolve(false) })
    server.listen(port, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
  })
}

/**
 * Free ports, distinct, each with its Cluster bus port (+10000) free too. Both are taken below the
 * kernel's ephemeral range (32768 and up by default), where the outgoing connections of everything else
 * on the host pick their local ports: a port found free there could be taken by a client socket
 * before redis-server binds it (seen: the bus port of a Cluster node "already in use").
 */
export async function freePorts (n: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < n) {
    const p = 12_000 + Math.floor(Math.random() * 10_000) // p in [12000, 22000), bus port in [22000, 32000)
    if (ports.has(p) || ports.has(p + 10_000) || ports.has(p - 10_000)) continue
    if (await bindable(p) && await bindable(p + 10_000)) ports.add(p)
  }
  return [...ports]
}

export function cliAccess (p: Prepared): string[] {
  const out: string[] = []
  if (p.access.username !== undefined) out.push('--user', p.access.username)
  if (p.access.password !== undefined) out.push('--pass', p.access.password, '--no-auth-warning')
  if (p.tlsFiles !== null) out.push('--tls', '--cacert', p.tlsFiles.caFile, '--cert', p.tlsFiles.certFile, '--key', p.tlsFiles.keyFile)
  return out
}

/** redis-cli with `args`: its exit code and everything it printed. */
export async function runCli (args: string[]): Promise<{ code: number | null, out: string }> {
  return await new Promise((resolve) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { out += c.toString() })
    child.once('close', (code) => { resolve({ code, out }) })
  })
}
