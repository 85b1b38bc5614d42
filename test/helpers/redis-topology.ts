// Real Redis high-availability topologies for tests (issue 11 item 8), started from Debian's
// redis-server and redis-sentinel on free loopback ports, each process in its own temp dir, and
// stopped by pid (never by name). Like redis-server.ts: every child dies with the test process
// (an 'exit' hook, and PR_SET_PDEATHSIG through util-linux `setpriv` where it exists).
//
// No fixed sleeps: every start polls the state it needs (PING, CLUSTER INFO cluster_state:ok,
// the replication link, SENTINEL get-master-addr-by-name).
//
//   startCluster(): 3 masters + 3 replicas (`--cluster-enabled yes`, then
//     `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes`).
//   startSentinel(): 1 master, 1 replica, 3 sentinels (down-after-milliseconds 1000).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { RedisTarget } from '../../src/store/redis/target.js'

const READY_DEADLINE_MS = 20_000
const live = new Set<ChildProcess>()
let exitHookInstalled = false

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const child of live) {
      try { child.kill('SIGCONT'); child.kill('SIGKILL') } catch { /* already gone */ }
    }
  })
}

let setprivAvailable: boolean | undefined
function hasSetpriv (): boolean {
  setprivAvailable ??= spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0
  return setprivAvailable
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
    installExitHook()
    const child = hasSetpriv()
      ? spawn('setpriv', ['--pdeathsig', 'KILL', this.bin, ...this.args], { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(this.bin, this.args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(child)
    child.unref()
    for (const s of [child.stdout, child.stderr]) {
      (s as unknown as { unref?: () => void } | null)?.unref?.()
      s?.on('data', (c: Buffer) => { this.#output = (this.#output + c.toString()).slice(-4000) })
    }
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', () => { live.delete(child); resolve() })
      child.once('error', () => { live.delete(child); resolve() })
    })
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

interface Prepared { args: string[], access: NodeAccess, tlsFiles: ReturnType<typeof makeTlsFiles> | null }

function prepare (root: string, opts: TopologyOptions): Prepared {
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

function portArgs (port: number, tls: boolean): string[] {
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
async function freePorts (n: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < n) {
    const p = 12_000 + Math.floor(Math.random() * 10_000) // p in [12000, 22000), bus port in [22000, 32000)
    if (ports.has(p) || ports.has(p + 10_000) || ports.has(p - 10_000)) continue
    if (await bindable(p) && await bindable(p + 10_000)) ports.add(p)
  }
  return [...ports]
}

// ------------------------------------------------------------------------------------------- Standalone

export interface ServerHandle {
  server: RedisProcess
  /** redis:// or rediss:// URL, without credentials. */
  url: string
  access: NodeAccess
  caFile: string | null
  stop(): Promise<void>
}

/** One standalone redis-server with the topology options (ACL user, TLS only). */
export async function startServer (opts: TopologyOptions = {}): Promise<ServerHandle> {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-server-'))
  const base = prepare(root, opts)
  const [port] = await freePorts(1) as [number]
  const server = new RedisProcess(port, root, 'redis-server', [...portArgs(port, opts.tls === true), '--dir', root, ...base.args], base.access)
  try {
    await server.start()
  } catch (err) {
    rmSync(root, { recursive: true, force: true })
    throw err
  }
  return {
    server,
    url: `${opts.tls === true ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    access: base.access,
    caFile: base.tlsFiles?.caFile ?? null,
    stop: async () => { await server.kill(); rmSync(root, { recursive: true, force: true }) }
  }
}

// ---------------------------------------------------------------------------------------------- Cluster

export interface ClusterHandle {
  /** All six servers; `nodes[i].port`. Roles change after failovers: ask masters(). */
  nodes: RedisProcess[]
  /** `127.0.0.1:P,…` for REDIS_CLUSTER_NODES. */
  seeds: string
  access: NodeAccess
  caFile: string | null
  /** The current masters (by asking a live node's CLUSTER NODES), each with the slot ranges it serves. */
  masters(): Promise<Array<{ node: RedisProcess, id: string, slots: Array<[number, number]> }>>
  /** The node serving `slot` as master now. */
  masterOfSlot(slot: number): Promise<RedisProcess>
  /** Polls until every live node reports cluster_state:ok and every master has a linked replica. */
  healthy(ms?: number): Promise<void>
  stop(): Promise<void>
}

export async function startCluster (opts: TopologyOptions = {}): Promise<ClusterHandle> {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'))
  const tls = opts.tls === true
  const base = prepare(root, opts)
  const ports = await freePorts(6)
  const nodes = ports.map((port) => {
    const dir = join(root, String(port))
    mkdirSync(dir)
    return new RedisProcess(port, dir, 'redis-server', [...portArgs(port, tls), '--dir', dir, '--cluster-enabled', 'yes',
      '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000',
      ...(tls ? ['--tls-cluster', 'yes'] : []), ...base.args], base.access)
  })
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map(async (n) => { await n.kill() }))
    rmSync(root, { recursive: true, force: true })
  }
  try {
    await Promise.all(nodes.map(async (n) => { await n.start() }))
    const cli = ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes', ...cliAccess(base)]
    const created = await runCli(cli)
    if (created.code !== 0) throw new Error(`redis-cli --cluster create failed: ${created.out.slice(-500)}`)
  } catch (err) {
    await stopAll()
    throw err
  }

  const liveNode = (): RedisProcess => {
    const n = nodes.find((x) => x.running)
    if (n === undefined) throw new Error('no cluster node is running')
    return n
  }
  const masters = async (): Promise<Array<{ node: RedisProcess, id: string, slots: Array<[number, number]> }>> => {
    const text = String(await liveNode().call(['CLUSTER', 'NODES']))
    const out: Array<{ node: RedisProcess, id: string, slots: Array<[number, number]> }> = []
    for (const line of text.trim().split('\n')) {
      const f = line.split(' ')
      const flags = f[2] ?? ''
      if (!flags.includes('master') || flags.includes('fail')) continue
      const port = Number(/:(\d+)@/.exec(f[1] ?? '')?.[1])
      const node = nodes.find((n) => n.port === port)
      if (node === undefined) continue
      const slots = f.slice(8).filter((s) => !s.startsWith('[')).map((s) => {
        const [a, b] = s.split('-')
        return [Number(a), Number(b ?? a)] as [number, number]
      })
      if (slots.length > 0) out.push({ node, id: f[0] ?? '', slots })
    }
    return out
  }
  const healthy = async (ms = READY_DEADLINE_MS): Promise<void> => {
    await until('cluster_state:ok on every node, every master with a linked replica', async () => {
      for (const n of nodes.filter((x) => x.running)) {
        if (!String(await n.call(['CLUSTER', 'INFO'])).includes('cluster_state:ok')) return false
        const info = String(await n.call(['INFO', 'replication']))
        if (info.includes('role:slave') && !info.includes('master_link_status:up')) return false
      }
      const ms = await masters()
      if (ms.length !== 3) return false
      for (const m of ms) {
        if (!/connected_slaves:[1-9]/.test(String(await m.node.call(['INFO', 'replication'])))) return false
      }
      return true
    }, ms)
  }
  try {
    await healthy()
  } catch (err) {
    await stopAll()
    throw err
  }
  return {
    nodes,
    seeds: ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(','),
    access: base.access,
    caFile: base.tlsFiles?.caFile ?? null,
    masters,
    masterOfSlot: async (slot) => {
      const m = (await masters()).find((x) => x.slots.some(([a, b]) => slot >= a && slot <= b))
      if (m === undefined) throw new Error(`no master serves slot ${slot}`)
      return m.node
    },
    healthy,
    stop: stopAll
  }
}

function cliAccess (p: Prepared): string[] {
  const out: string[] = []
  if (p.access.username !== undefined) out.push('--user', p.access.username)
  if (p.access.password !== undefined) out.push('--pass', p.access.password, '--no-auth-warning')
  if (p.tlsFiles !== null) out.push('--tls', '--cacert', p.tlsFiles.caFile, '--cert', p.tlsFiles.certFile, '--key', p.tlsFiles.keyFile)
  return out
}

async function runCli (args: string[]): Promise<{ code: number | null, out: string }> {
  return await new Promise((resolve) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { out += c.toString() })
    child.once('close', (code) => { resolve({ code, out }) })
  })
}

// --------------------------------------------------------------------------------------------- Sentinel

export interface SentinelHandle {
  name: string
  /** [0] started as master, [1] as its replica; roles swap after a failover. */
  servers: RedisProcess[]
  sentinels: RedisProcess[]
  /** `127.0.0.1:P,…` for REDIS_SENTINELS. */
  seeds: string
  access: NodeAccess
  caFile: string | null
  /** The master the sentinels name now. */
  master(): Promise<RedisProcess>
  /** Polls until every sentinel names `expected` (default: whichever the first names) and its replica link is up. */
  healthy(expected?: RedisProcess, ms?: number): Promise<RedisProcess>
  stop(): Promise<void>
}

/** The store's target for a started Sentinel set (no TLS, no credentials). */
export function sentinelTarget (set: SentinelHandle, minReplicas = 1): RedisTarget {
  const sentinels = set.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }))
  return { mode: 'sentinel', sentinels, name: set.name, tls: false, minReplicas }
}

export async function startSentinel (opts: TopologyOptions & { name?: string, sentinelPassword?: string } = {}): Promise<SentinelHandle> {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-sentinel-'))
  const tls = opts.tls === true
  const name = opts.name ?? 'mymaster'
  const base = prepare(root, opts)
  const [masterPort, replicaPort, ...sentinelPorts] = await freePorts(5) as [number, number, number, number, number]
  const server = (port: number, extra: string[]): RedisProcess => {
    const dir = join(root, String(port))
    mkdirSync(dir)
    return new RedisProcess(port, dir, 'redis-server', [...portArgs(port, tls), '--dir', dir, ...base.args, ...extra], base.access)
  }
  const servers = [server(masterPort, []), server(replicaPort, ['--replicaof', '127.0.0.1', String(masterPort)])]
  const sentinels = sentinelPorts.map((port) => {
    const dir = join(root, String(port))
    mkdirSync(dir)
    const file = join(dir, 'sentinel.conf') // one writable file per sentinel: it rewrites it
    const lines = [
      `port ${tls ? 0 : port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 3000`,
      `sentinel parallel-syncs ${name} 1`
    ]
    if (tls && base.tlsFiles !== null) {
      lines.push(`tls-port ${port}`, `tls-cert-file ${base.tlsFiles.certFile}`, `tls-key-file ${base.tlsFiles.keyFile}`,
        `tls-ca-cert-file ${base.tlsFiles.caFile}`, 'tls-replication yes', 'tls-auth-clients optional')
    }
    if (opts.acl !== undefined) lines.push(`sentinel auth-user ${name} ${opts.acl.username}`, `sentinel auth-pass ${name} ${opts.acl.password}`)
    if (opts.sentinelPassword !== undefined) lines.push(`requirepass ${opts.sentinelPassword}`, `sentinel sentinel-pass ${opts.sentinelPassword}`)
    writeFileSync(file, lines.join('\n') + '\n')
    const access: NodeAccess = { ...base.access }
    return new RedisProcess(port, dir, 'redis-sentinel', [file], access)
  })
  const stopAll = async (): Promise<void> => {
    await Promise.all([...sentinels, ...servers].map(async (n) => { await n.kill() }))
    rmSync(root, { recursive: true, force: true })
  }
  const sentinelCall = async (s: RedisProcess, cmd: string[]): Promise<unknown> => {
    const r = s.client()
    if (opts.sentinelPassword !== undefined) r.options.password = opts.sentinelPassword
    try {
      await r.connect()
      return await r.call(cmd[0] as string, ...cmd.slice(1))
    } finally {
      r.disconnect()
    }
  }
  const master = async (): Promise<RedisProcess> => {
    for (const s of sentinels.filter((x) => x.running)) {
      try {
        const addr = await sentinelCall(s, ['SENTINEL', 'get-master-addr-by-name', name]) as [string, string] | null
        const m = servers.find((x) => x.port === Number(addr?.[1]))
        if (m !== undefined) return m
      } catch { /* ask the next one */ }
    }
    throw new Error('no sentinel names a master')
  }
  const healthy = async (expected?: RedisProcess, ms = READY_DEADLINE_MS): Promise<RedisProcess> => {
    let found: RedisProcess | undefined
    await until('every sentinel to name one master whose replica link is up', async () => {
      const named = new Set<number>()
      for (const s of sentinels.filter((x) => x.running)) {
        const addr = await sentinelCall(s, ['SENTINEL', 'get-master-addr-by-name', name]) as [string, string] | null
        named.add(Number(addr?.[1]))
        // a sentinel that has not yet discovered the others would not vote
        const peers = await sentinelCall(s, ['SENTINEL', 'sentinels', name]) as unknown[]
        if (peers.length < sentinels.filter((x) => x.running).length - 1) return false
        const replicas = await sentinelCall(s, ['SENTINEL', 'replicas', name]) as unknown[]
        if (replicas.length < 1) return false
      }
      if (named.size !== 1) return false
      const m = servers.find((x) => x.port === [...named][0])
      if (m === undefined || !m.running || (expected !== undefined && m !== expected)) return false
      if (!String(await m.call(['INFO', 'replication'])).includes('role:master')) return false
      for (const r of servers.filter((x) => x !== m && x.running)) {
        if (!String(await r.call(['INFO', 'replication'])).includes('master_link_status:up')) return false
      }
      found = m
      return true
    }, ms)
    return found as RedisProcess
  }
  try {
    for (const s of servers) await s.start() // master first: the replica links to it at start
    await Promise.all(sentinels.map(async (s) => {
      if (opts.sentinelPassword !== undefined) {
        // PING needs the password: start() polls with it
        const orig = s.client.bind(s)
        s.client = () => { const r = orig(); r.options.password = opts.sentinelPassword; return r }
      }
      await s.start()
    }))
    await healthy(servers[0])
  } catch (err) {
    await stopAll()
    throw err
  }
  return {
    name,
    servers,
    sentinels,
    seeds: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    access: base.access,
    caFile: base.tlsFiles?.caFile ?? null,
    master,
    healthy,
    stop: stopAll
  }
}
