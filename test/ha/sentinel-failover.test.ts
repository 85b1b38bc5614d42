// Issue 11 items 4 and 5 on a real Sentinel set (1 master, 1 replica, 3 sentinels with
// down-after-milliseconds 1000; test/helpers/redis-topology.ts): the master is killed with SIGKILL;
// the store follows the promoted replica without a restart, the feed subscribes again (a fresh up(),
// so a replicated view reloads its snapshot), the revocation acknowledged before the kill is still
// there (WAIT 1), the missing replica is reported (one log line), and the epoch stands.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { RedisStore } from '../../src/store/redis/index.js'
import { sentinelTarget, startSentinel, until } from '../helpers/redis-topology.js'
import { storeLogRecorder as recorder } from '../helpers/log-capture.js'

const set = await startSentinel()
t.teardown(async () => { await set.stop() })
const target = sentinelTarget(set)

async function readyStore (prefix = `t-${randomUUID()}:`, logger = recorder()): Promise<RedisStore> {
  const store = new RedisStore({ target, timeoutMs: 1000, prefix, logger, epochCheckMs: 100 })
  if (!await store.ready(10_000)) throw new Error('the sentinel store did not become ready')
  return store
}

const nowS = (): number => Math.floor(Date.now() / 1000)

t.test('Sentinel: WAIT, then a failover followed without restart; the feed re-subscribes; the shortfall is reported', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const log = recorder()
  const store = await readyStore(prefix, log)
  t.teardown(() => store.close())
  await until('replica counted', async () => store.replicas().online.master === 1)
  let ups = 0
  let downs = 0
  const feed = store.subscribeRevocations({ event: () => {}, up: () => { ups++ }, down: () => { downs++ } })
  t.teardown(() => feed.close())
  await until('feed up', async () => ups === 1)

  await store.revokeToken('before-kill', nowS() + 600)
  const [master, replica] = [await set.master(), set.servers.find((s) => s !== set.servers[0]) ?? set.servers[1]]
  t.equal(master, set.servers[0])
  t.equal(await replica?.call(['GET', `${prefix}revoked:jti:before-kill`]), '1', 'on the replica once the call resolved (WAIT 1)')
  const epoch = store.epoch.current

  const t0 = Date.now()
  await master.kill() // SIGKILL: nothing more reaches the replica
  const promoted = await set.healthy(replica, 30_000).catch(async () => await set.master())
  t.equal(promoted, replica, 'the sentinels promoted the replica')
  t.comment(`promoted after ${Date.now() - t0} ms`)
  await until('the store answers on the new master', async () => {
    try { await store.revokeToken('after-kill', nowS() + 600); return true } catch { return false }
  })
  t.same((await store.checkRevocation({ jti: 'before-kill', sub: 'u', clientId: 'c' })).tokenRevoked, true, 'the revocation made before the kill is still there')
  t.same((await store.checkRevocation({ jti: 'after-kill', sub: 'u', clientId: 'c' })).tokenRevoked, true, 'and the new one is written')
  t.comment(`store answers after ${Date.now() - t0} ms`)
  // >= 2: the sentinels' +switch-master (failoverDetector) may make the subscriber reconnect once more
  await until('feed re-subscribed', async () => ups >= 2)
  t.ok(downs >= 1, 'the feed went down with the old master (strict until re-synced)')
  await until('shortfall reported', async () => store.replicas().short.length === 1)
  t.equal(log.warns.filter((w) => 'required' in w).length, 1, 'one log line for the shortfall')
  t.match(log.warns.find((w) => 'required' in w), { required: 1, online: 'master=0' })
  t.equal(store.epoch.current, epoch, 'nothing acknowledged was lost: the epoch stands')

  // the old master comes back as a replica of the new one: the shortfall ends
  await set.servers[0]?.start()
  await until('shortfall over', async () => store.replicas().short.length === 0, 30_000)
})

