// Issue 11 items 3 and 5 on a real Cluster (3 masters + 3 replicas). The token endpoint end to end
// (login, a rotation whose two tokens live in different slots, replay, revocation, introspection).
// The sharded revocation feed follows its channel's slot: when that slot is migrated to another master
// by hand (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) and when its master is killed
// with SIGKILL and the replica takes over, the feed goes down (the local view turns strict) and comes
// up again on the new master (a fresh up(): the view reloads its snapshot). Through the kill, the store
// recovers without a restart and a revocation acknowledged before it (WAIT 1) is still there.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { RedisStore } from '../../src/store/redis/index.js'
import { calculateSlot } from '../../src/store/redis/slots.js'
import type { RevocationEvent } from '../../src/store/types.js'
import { basic, buildOAuthApp, FIXTURE, passwordTokens, post, refresh, seedFixture } from '../helpers/oauth.js'
import { startCluster, until, type RedisProcess } from '../helpers/redis-topology.js'

const cluster = await startCluster()
t.teardown(() => cluster.stop())
const nodes = cluster.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }))
const nowS = (): number => Math.floor(Date.now() / 1000)

async function storeWithFeed (t: Tap, prefix: string): Promise<{ store: RedisStore, feed: { ups: number, downs: number, events: RevocationEvent[] } }> {
  const store = new RedisStore({ target: { mode: 'cluster', nodes, tls: false, minReplicas: 1 }, timeoutMs: 1000, prefix, epochCheckMs: 200 })
  t.teardown(() => store.close())
  if (!await store.ready(10_000)) throw new Error('not ready')
  const feed = { ups: 0, downs: 0, events: [] as RevocationEvent[] }
  const sub = store.subscribeRevocations({ event: (e) => { feed.events.push(e) }, up: () => { feed.ups++ }, down: () => { feed.downs++ } })
  t.teardown(() => sub.close())
  await until('feed up', async () => feed.ups === 1)
  return { store, feed }
}
type Tap = { teardown(fn: () => unknown): void }

async function nodeId (n: RedisProcess): Promise<string> {
  return String(await n.call(['CLUSTER', 'MYID']))
}

t.test('the token endpoint on a Cluster: login, refresh rotation (two slots), revocation seen by introspection', async (t) => {
  const store = new RedisStore({ target: { mode: 'cluster', nodes, tls: false, minReplicas: 1 }, timeoutMs: 1000, prefix: `t-${randomUUID()}:` })
  t.teardown(() => store.close())
  if (!await store.ready(10_000)) throw new Error('not ready')
  // REFRESH_GRACE=0: every second use is a replay (the grace window is checked below, with its default)
  const { app } = await buildOAuthApp(t, { store, env: { TOKEN_RATE_LIMIT: '1000', REFRESH_GRACE: '0' } })
  await seedFixture(store)
  const graceApp = (await buildOAuthApp(t, { store, env: { TOKEN_RATE_LIMIT: '1000' } })).app
  const first = await passwordTokens(graceApp)
  const r1 = await refresh(graceApp, first.refresh_token!)
  const r2 = await refresh(graceApp, first.refresh_token!)
  t.equal(r2.statusCode, 200, 'REFRESH_GRACE on a Cluster: a retry within the window is served (successor in another slot)')
  t.equal(r2.json().refresh_token, r1.json().refresh_token, 'with the same successor')
  const login = await passwordTokens(app)
  const rotated = await refresh(app, login.refresh_token!)
  t.equal(rotated.statusCode, 200, 'rotated: old and successor tokens live in different slots')
  t.equal((await refresh(app, login.refresh_token!)).json().error, 'invalid_grant', 'the old one replayed: refused (RFC 9700 §4.14.2)')
  t.equal((await refresh(app, rotated.json().refresh_token)).json().error, 'invalid_grant', 'and the replay revoked the session')
  const web = { authorization: basic('web', FIXTURE.webSecret) }
  const fresh = await passwordTokens(app)
  t.equal((await post(app, '/oauth/introspect', { token: fresh.access_token }, web)).json().active, true)
  t.equal((await post(app, '/oauth/revoke', { token: fresh.access_token }, web)).statusCode, 200)
  t.same((await post(app, '/oauth/introspect', { token: fresh.access_token }, web)).json(), { active: false }, 'revoked (RFC 7009)')
})

t.test('the channel\'s slot migrated to another master: the feed re-subscribes there', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const { store, feed } = await storeWithFeed(t, prefix)
  const slot = calculateSlot(`${prefix}revocations`)
  const from = await cluster.masterOfSlot(slot)
  const to = (await cluster.masters()).find((m) => m.node !== from)?.node
  if (to === undefined) throw new Error('no other master')
  const [fromId, toId] = [await nodeId(from), await nodeId(to)]
  await to.call(['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId])
  await from.call(['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId])
  const keys = await from.call(['CLUSTER', 'GETKEYSINSLOT', String(slot), '1000']) as string[]
  if (keys.length > 0) await from.call(['MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys])
  for (const n of cluster.nodes.filter((x) => x.running)) await n.call(['CLUSTER', 'SETSLOT', String(slot), 'NODE', toId]).catch(() => {})
  await until('feed down and up again', async () => feed.downs >= 1 && feed.ups >= 2, 15_000)
  t.equal(await cluster.masterOfSlot(slot), to, 'the slot moved')
  await store.revokeToken('after-migration', nowS() + 600)
  await until('event through the new master', async () => feed.events.some((e) => e.id === 'after-migration'))
  t.pass('events flow again')
})

t.test('the channel\'s master killed: failover without restart, feed back, acknowledged revocation kept', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const { store, feed } = await storeWithFeed(t, prefix)
  await store.revokeToken('before-kill', nowS() + 600)
  const slot = calculateSlot(`${prefix}revocations`)
  const victim = await cluster.masterOfSlot(slot)
  const epoch = store.epoch.current
  const t0 = Date.now()
  await victim.kill()
  await until('the store answers again', async () => {
    try { await store.revokeToken('after-kill', nowS() + 600); return true } catch { return false }
  }, 30_000)
  t.comment(`writes served again ${Date.now() - t0} ms after the kill`)
  await until('feed down and up again', async () => feed.downs >= 1 && feed.ups >= 2, 30_000)
  t.not(await cluster.masterOfSlot(slot), victim, 'a replica took the slot over')
  t.equal((await store.checkRevocation({ jti: 'before-kill', sub: 'u', clientId: 'c' })).tokenRevoked, true, 'the revocation acknowledged before the kill is there')
  await store.revokeToken('after-resubscribe', nowS() + 600)
  await until('event through the new master', async () => feed.events.some((e) => e.id === 'after-resubscribe'))
  await until('epoch confirmed again', async () => store.epoch.current !== null)
  t.equal(store.epoch.current, epoch, 'no shard lost its data: the epoch stands')
})
