// A Cluster store after a failover, one seed dead (test:ha cluster-load once failed on it): its
// process opens the store, finds it ready and, once it is closed, has nothing left that keeps it
// alive. ioredis's Cluster ready check (CLUSTER INFO to any node of the pool, also one whose
// connection has just closed) failed and reconnected again and again, so `users add` found no answer
// within REDIS_TIMEOUT; it is off (client.ts), so no CLUSTER INFO reaches any node. And ioredis's
// disconnect() timer for a socket that had already closed (a dead node's) ran its full 2 s.
//
// A Cluster store closed while a slot-map refresh is in flight lets its process exit (test:ha once
// hung for 300 s on a test file whose every test had passed: ioredis's own slotsRefreshInterval arms
// its next round from the callback of the refresh in flight, also after disconnect(); client.ts
// refreshSlotsEvery). The refresh is held in flight for certain, not by luck: every node announces
// (cluster-announce-port) a loopback port where a server of the test's own accepts and never
// answers. The store's pool moves there, so each refresh waits out its timeout on one of them while
// QUIT fails at once (no connection is ready), and close() gets to disconnect() mid-refresh.
// Each store lives in a process of its own (store-child.ts): whether that process ends is the observable.
import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startCluster, until } from '../helpers/redis-topology.js'
import { closeOnSignalScript, openAndCloseScript, startStoreChild } from '../helpers/store-child.js'

const cluster = await startCluster()
t.teardown(() => cluster.stop())
const nodes = cluster.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }))

const target = { mode: 'cluster' as const, nodes, tls: false, minReplicas: 1 }

/** CLUSTER INFO calls served by the running nodes so far (INFO commandstats). */
async function clusterInfoCalls (): Promise<number> {
  let calls = 0
  for (const n of cluster.nodes.filter((x) => x.running)) {
    const stats = String(await n.call(['INFO', 'commandstats']))
    calls += Number(/cmdstat_cluster\|info:calls=(\d+)/.exec(stats)?.[1] ?? 0)
  }
  return calls
}

t.test('after a failover, one seed dead: the store is ready without CLUSTER INFO, and once closed its process ends', async (t) => {
  const victim = (await cluster.masters())[0]!
  const slot = victim.slots[0]![0]
  await victim.node.kill()
  await until('a replica promoted', async () => (await cluster.masterOfSlot(slot)) !== victim.node, 30_000)
  const before = await clusterInfoCalls()
  for (let i = 0; i < 5; i++) {
    const run = startStoreChild(openAndCloseScript({ timeoutMs: 2000, readyMs: 2000 }), { ...target, minReplicas: 0 })
    t.teardown(() => { run.child.kill('SIGKILL') })
    const code = await run.exited
    t.equal(run.out(), 'ready\n', `run ${i}: ready within 2 s; nothing armed a second after close`)
    t.equal(code, 0)
  }
  t.equal(await clusterInfoCalls(), before, 'no CLUSTER INFO sent (ioredis\'s ready check is off)')
})

/** A loopback server that accepts and never answers; `heard` is everything its clients sent. */
async function silentServer (t: Tap): Promise<{ port: number, heard: () => string }> {
  let heard = ''
  const sockets = new Set<Socket>()
  const server: Server = createServer((s) => {
    sockets.add(s)
    s.on('data', (d) => { heard += String(d) })
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return { port: (server.address() as { port: number }).port, heard: () => heard }
}
type Tap = { teardown(fn: () => unknown): void }

t.test('a Cluster store closed while a slot-map refresh is in flight: nothing keeps its process alive', async (t) => {
  const { child, out, exited } = startStoreChild(closeOnSignalScript({ timeoutMs: 1000 }), target)
  t.teardown(() => { child.kill('SIGKILL') })
  await until('the child\'s store ready', async () => out().includes('ready\n'), 15_000)

  const running = cluster.nodes.filter((n) => n.running)
  const silent = await Promise.all(running.map(async () => await silentServer(t)))
  await Promise.all(running.map(async (n, i) => await n.call(['CONFIG', 'SET', 'cluster-announce-port', String(silent[i]?.port)])))
  // the store's next refresh moves its pool to the silent ports; the one after waits on them (its
  // connection names itself, then waits for the answers before it sends CLUSTER SLOTS)
  await until('a slot-map refresh waiting on a silent node', async () => silent.some((s) => s.heard().includes('ioredis-cluster(refresher)')), 15_000)
  child.kill('SIGUSR2')
  await until('the store closed', async () => out().includes('closed\n'), 15_000)
  const outcome = await Promise.race([exited, sleep(20_000, 'still running 20 s after close', { ref: false })])
  t.equal(outcome, 0, 'the process exits by itself once its store is closed')
})
