// Issue 11 item 7 (SECURITY.md E06), a real lost-write failover on a Sentinel set: with
// REDIS_MIN_REPLICAS=0 (no WAIT), revocations are acknowledged while the replica's link is cut (it is
// pointed at a port where nothing listens), then the master is killed (SIGKILL) and the replica pointed
// back at it; the sentinels promote it without those revocations. The store follows the new master, finds its write counter below what it got
// acknowledged, replaces the store epoch (one line each: the lost writes, the change), so every token
// of the old epoch is refused instead of a revoked one passing again. The same at the edge: a real
// gateway process (REDIS_MIN_REPLICAS=0) acknowledged one of the lost revocations; after the failover it
// refuses (401, README "store epoch") the token whose revocation is gone and every other token issued
// before, and serves a token issued after.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { RedisStore } from '../../src/store/redis/index.js'
import { sentinelTarget, startSentinel, until } from '../helpers/redis-topology.js'
import { get, mustLogin, revoke, startFleet } from './harness.js'

const set = await startSentinel()
t.teardown(() => set.stop())
const fleet = await startFleet(t, { REDIS_SENTINELS: set.seeds, REDIS_SENTINEL_NAME: set.name }, { count: 1, extra: { REDIS_MIN_REPLICAS: '0' } })
const gateway = fleet.gateways[0]!

t.test('E06: a promoted replica that lacks acknowledged revocations changes the store epoch', async (t) => {
  const errors: object[] = []
  const logger = { info () {}, warn () {}, error (o: object) { errors.push(o) } }
  const prefix = `t-${randomUUID()}:`
  const store = new RedisStore({ target: sentinelTarget(set, 0), timeoutMs: 1000, prefix, logger, epochCheckMs: 100 })
  t.teardown(() => store.close())
  if (!await store.ready(10_000)) throw new Error('not ready')
  const [master, replica] = set.servers as [typeof set.servers[0], typeof set.servers[0]]
  const before = store.epoch.current
  const kept = await mustLogin(gateway) // issued before: never revoked
  const victim = await mustLogin(gateway)
  t.equal((await get(fleet, 0, '/orders/before', victim.access_token)).status, 200, 'the gateway serves the token before')
  await store.revokeToken('replicated', Math.floor(Date.now() / 1000) + 600)
  await until('the replica has it', async () => await replica.call(['EXISTS', `${prefix}revoked:jti:replicated`]) === 1)

  await replica.call(['REPLICAOF', '127.0.0.1', '1']) // the link cut: nothing listens on port 1
  for (let i = 0; i < 3; i++) await store.revokeToken(`lost-${i}`, Math.floor(Date.now() / 1000) + 600) // acknowledged, never copied
  t.equal(await revoke(gateway, victim.refresh_token), 200, 'the gateway acknowledges a revocation the replica never gets')
  // its own view learns it from the feed's event (within milliseconds)
  await until('the gateway refuses the revoked token', async () => (await get(fleet, 0, '/orders/revoked', victim.access_token)).status === 401)
  await master.kill()
  await replica.call(['REPLICAOF', '127.0.0.1', String(master.port)]) // a replica of the dead master again
  await set.healthy(replica, 30_000).catch(() => {})
  t.equal(await set.master(), replica, 'the replica was promoted')
  await until('the epoch is replaced', async () => store.epoch.current !== null && store.epoch.current !== before, 30_000)
  t.equal((await store.checkRevocation({ jti: 'lost-0', sub: 'u', clientId: 'c' })).tokenRevoked, false, 'the revocation is really gone from the store')
  t.match(errors.find((e) => 'reason' in e && (e as { reason: string }).reason === 'store_lost_writes'), { acknowledged: 4 }, 'the lost writes, logged')
  t.match(errors.find((e) => 'reason' in e && (e as { reason: string }).reason === 'store_epoch_changed'), { previous: before }, 'and the epoch change: every older token refused')

  // the gateway: 503 while it follows the failover (fail closed), then the old epoch's tokens refused
  let victimAfter: number | string = 503
  await until('the gateway answers the revoked token with other than 503', async () => {
    victimAfter = (await get(fleet, 0, '/orders/after', victim.access_token)).status
    return victimAfter !== 503
  }, 30_000)
  t.equal(victimAfter, 401, 'the token whose revocation the promoted replica lacks: refused, not served again')
  t.equal((await get(fleet, 0, '/orders/after', kept.access_token)).status, 401, 'a token of the old epoch never revoked: refused too')
  t.match(gateway.output(), /"reason":"store_lost_writes"/, 'the gateway found the lost writes itself (its own write counter)')
  t.match(gateway.output(), /store epoch mismatch/, 'the refusals name the store epoch')
  const fresh = await mustLogin(gateway)
  t.equal((await get(fleet, 0, '/orders/fresh', fresh.access_token)).status, 200, 'a token issued under the new epoch is served')
})
