// Issue 11 item 7 (SECURITY.md E06), a real lost-write failover on a Cluster (3 masters + 3 replicas):
// with REDIS_MIN_REPLICAS=0 (no WAIT), revocations are acknowledged by a master whose replica is
// stopped (SIGSTOP) and cut off (CLIENT KILL TYPE replica: stopped, it cannot reconnect), then the
// master is killed (SIGKILL) and the replica resumed; the Cluster promotes it without those
// revocations, while it keeps every epoch copy (no shard lost all its data). The store finds that
// master's write counter below what it got acknowledged, replaces the store epoch (one line each:
// the lost writes, the change), so every token of the old epoch is refused instead of a revoked one
// passing again.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { RedisStore } from '../../src/store/redis/index.js'
import { calculateSlot } from '../../src/store/redis/slots.js'
import { startCluster, until } from '../helpers/redis-topology.js'

const cluster = await startCluster()
t.teardown(() => cluster.stop())
const nodes = cluster.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }))

t.test('E06 on a Cluster: a promoted replica that lacks acknowledged revocations changes the store epoch', async (t) => {
  const errors: Array<{ reason?: string }> = []
  const logger = { info () {}, warn () {}, error (o: object) { errors.push(o) } }
  const prefix = `t-${randomUUID()}:`
  const store = new RedisStore({ target: { mode: 'cluster', nodes, tls: false, minReplicas: 0 }, timeoutMs: 1000, prefix, logger, epochCheckMs: 100 })
  t.teardown(() => store.close())
  if (!await store.ready(10_000)) throw new Error('not ready')
  await store.epoch.verify() // the first check of an epoch writes its copies on every shard
  const before = store.epoch.current
  t.type(before, 'string')

  // the victim: a master that does not serve the main epoch key, so claiming it never waits for the failover
  const mainSlot = calculateSlot(`${prefix}{e}epoch`)
  const serves = (slots: Array<[number, number]>, slot: number): boolean => slots.some(([a, b]) => slot >= a && slot <= b)
  const victim = (await cluster.masters()).find((m) => !serves(m.slots, mainSlot))
  if (victim === undefined) throw new Error('no victim')
  const replicaPort = Number(/^slave0:.*port=(\d+)/m.exec(String(await victim.node.call(['INFO', 'replication'])))?.[1])
  const replica = cluster.nodes.find((n) => n.port === replicaPort)
  if (replica === undefined) throw new Error('no replica')
  const jtis: string[] = []
  for (let i = 0; jtis.length < 4; i++) if (serves(victim.slots, calculateSlot(`${prefix}revoked:jti:{j:j${i}}`))) jtis.push(`j${i}`)
  const [kept, ...lost] = jtis as [string, ...string[]]
  const exp = Math.floor(Date.now() / 1000) + 600
  const revoked = async (jti: string): Promise<boolean> => (await store.checkRevocation({ jti, sub: 'u', clientId: 'c' })).tokenRevoked

  await store.revokeToken(kept, exp)
  await until('the replica has it', async () => {
    const r = replica.client()
    try {
      await r.connect()
      await r.call('READONLY')
      return await r.get(`${prefix}revoked:jti:{j:${kept}}`) === '1'
    } finally { r.disconnect() }
  })
  replica.pause()
  await victim.node.call(['CLIENT', 'KILL', 'TYPE', 'replica']) // the link cut; stopped, the replica cannot reconnect
  for (const jti of lost) await store.revokeToken(jti, exp) // acknowledged, never copied
  t.ok(await revoked(lost[0] as string), 'acknowledged by the master')
  await victim.node.kill()
  replica.resume()
  await until('the replica promoted', async () => (await cluster.masterOfSlot(victim.slots[0]![0])) === replica, 30_000)
  await until('the epoch is replaced', async () => store.epoch.current !== null && store.epoch.current !== before, 30_000)

  t.equal(await revoked(lost[0] as string), false, 'the revocation is really gone from the store')
  t.equal(await revoked(kept), true, 'the one copied before the cut is there')
  const lines = (reason: string): object[] => errors.filter((e) => e.reason === reason)
  t.equal(lines('store_lost_writes').length, 1, 'the lost writes, logged once')
  t.match(lines('store_lost_writes')[0], { acknowledged: 4, found: 1 }, 'three of the four writes on that master missing')
  t.equal(lines('store_epoch_changed').length, 1, 'and the epoch change, once')
  t.match(lines('store_epoch_changed')[0], { previous: before }, 'every older token refused')
  t.equal(store.epoch.status().previous, before, 'tokens of the old epoch no longer match the store')
})
