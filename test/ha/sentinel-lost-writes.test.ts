// Issue 11 item 7 (SECURITY.md E06), a real lost-write failover on a Sentinel set: with
// REDIS_MIN_REPLICAS=0 (no WAIT), revocations are acknowledged while the replica's link is cut (it is
// pointed at a port where nothing listens), then the master is killed (SIGKILL) and the replica pointed
// back at it; the sentinels promote it without those revocations. The store follows the new master, finds its write counter below what it got
// acknowledged, replaces the store epoch (one line each: the lost writes, the change), so every token
// of the old epoch is refused instead of a revoked one passing again.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { RedisStore } from '../../src/store/redis/index.js'
import { sentinelTarget, startSentinel, until } from '../helpers/redis-topology.js'

const set = await startSentinel()
t.teardown(() => set.stop())

t.test('E06: a promoted replica that lacks acknowledged revocations changes the store epoch', async (t) => {
  const errors: object[] = []
  const logger = { info () {}, warn () {}, error (o: object) { errors.push(o) } }
  const store = new RedisStore({
    target: sentinelTarget(set, 0),
    timeoutMs: 1000, prefix: `t-${randomUUID()}:`, logger, epochCheckMs: 100
  })
  t.teardown(() => store.close())
  if (!await store.ready(10_000)) throw new Error('not ready')
  const [master, replica] = set.servers as [typeof set.servers[0], typeof set.servers[0]]
  const before = store.epoch.current
  await store.revokeToken('replicated', Math.floor(Date.now() / 1000) + 600)
  await until('the replica has it', async () => await replica.call(['DBSIZE']) as number >= 3)

  await replica.call(['REPLICAOF', '127.0.0.1', '1']) // the link cut: nothing listens on port 1
  for (let i = 0; i < 3; i++) await store.revokeToken(`lost-${i}`, Math.floor(Date.now() / 1000) + 600) // acknowledged, never copied
  await master.kill()
  await replica.call(['REPLICAOF', '127.0.0.1', String(master.port)]) // a replica of the dead master again
  await set.healthy(replica, 30_000).catch(() => {})
  t.equal(await set.master(), replica, 'the replica was promoted')
  await until('the epoch is replaced', async () => store.epoch.current !== null && store.epoch.current !== before, 30_000)
  t.equal((await store.checkRevocation({ jti: 'lost-0', sub: 'u', clientId: 'c' })).tokenRevoked, false, 'the revocation is really gone from the store')
  t.match(errors.find((e) => 'reason' in e && (e as { reason: string }).reason === 'store_lost_writes'), { acknowledged: 4 }, 'the lost writes, logged')
  t.match(errors.find((e) => 'reason' in e && (e as { reason: string }).reason === 'store_epoch_changed'), { previous: before }, 'and the epoch change: every older token refused')
})
