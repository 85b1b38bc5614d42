// Real Redis high-availability topologies for tests (issue 11 item 8), started from Debian's
// redis-server and redis-sentinel on free loopback ports, each process in its own temp dir and each a
// RedisProcess (redis-process.ts): stopped by pid (never by name), and dying with the test process.
//
// No fixed sleeps: every start polls the state it needs (PING, CLUSTER INFO cluster_state:ok,
// the replication link, SENTINEL get-master-addr-by-name).
//
//   startCluster(): 3 masters + 3 replicas (`--cluster-enabled yes`, then
//     `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes`).
//   startSentinel(): 1 master, 1 replica, 3 sentinels (down-after-milliseconds 1000).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RedisTarget } from '../../src/store/redis/target.js'
import { READY_DEADLINE_MS, RedisProcess, cliAccess, freePorts, portArgs, prepare, runCli, until, type NodeAccess, type TopologyOptions } from './redis-process.js'

export { RedisProcess, makeTlsFiles, until, type NodeAccess, type TopologyOptions } from './redis-process.js'

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
