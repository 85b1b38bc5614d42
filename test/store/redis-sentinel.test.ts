// Issue 11 items 4, 5, 7 on a real Sentinel set (1 master, 1 replica, 3 sentinels with
// down-after-milliseconds 1000; test/helpers/redis-topology.ts), one set for the whole file: the store
// contract passes through the sentinels; a revocation is answered once the replica holds it (WAIT);
// and a promoted replica that lacks acknowledged writes changes the store epoch. The failover itself
// (the master killed): test/ha/sentinel-failover.test.ts (npm run test:ha).
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { RedisStore } from '../../src/store/redis/index.js'
import { sentinelTarget, startSentinel, until } from '../helpers/redis-topology.js'
import { storeLogRecorder as recorder } from '../helpers/log-capture.js'
import { storeContract } from './contract.js'
import { storeUpdateContract } from './contract-updates.js'
import { storeAuthContract } from './contract-auth.js'
import { storeMobileContract } from './contract-mobile.js'

const set = await startSentinel()
t.teardown(async () => { await set.stop() })
const target = sentinelTarget(set)

async function readyStore (prefix = `t-${randomUUID()}:`, logger = recorder()): Promise<RedisStore> {
  const store = new RedisStore({ target, timeoutMs: 1000, prefix, logger, epochCheckMs: 100 })
  if (!await store.ready(10_000)) throw new Error('the sentinel store did not become ready')
  return store
}

const makeStore = async (): Promise<{ store: RedisStore, cleanup: () => Promise<void> }> => {
  const store = await readyStore()
  return { store, cleanup: async () => { await store.close() } }
}
storeContract(t, makeStore)
storeUpdateContract(t, makeStore)
storeAuthContract(t, makeStore)
storeMobileContract(t, makeStore)

const nowS = (): number => Math.floor(Date.now() / 1000)

t.test('WAIT: a revocation is on the replica once the call resolved; the replica is counted', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix)
  t.teardown(() => store.close())
  await until('replica counted', async () => store.replicas().online.master === 1)
  t.same(store.replicas(), { required: 1, online: { master: 1 }, short: [] })
  await store.revokeToken('durable', nowS() + 600)
  const replica = set.servers.find((s) => s !== set.servers[0])
  t.equal(await replica?.call(['GET', `${prefix}revoked:jti:durable`]), '1', 'on the replica once the call resolved (WAIT 1)')
})

t.test('E02 on Sentinel: a master that lacks writes this instance got acknowledged changes the epoch', async (t) => {
  const log = recorder()
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix, log)
  t.teardown(() => store.close())
  const before = store.epoch.current
  for (let i = 0; i < 3; i++) await store.revokeToken(`w${i}`, nowS() + 600)
  // what a promoted replica that missed the last writes looks like: the write counter is behind
  const master = await set.master()
  const raw = master.client()
  await raw.connect()
  t.teardown(() => raw.disconnect())
  t.equal(await raw.get(`${prefix}epoch-writes`), '3', 'one count per acknowledged write')
  await raw.decrby(`${prefix}epoch-writes`, 2)
  await until('epoch replaced', async () => store.epoch.current !== null && store.epoch.current !== before)
  t.match(log.errors, [{ reason: 'store_lost_writes' }, { reason: 'store_epoch_changed', previous: before }])
})
