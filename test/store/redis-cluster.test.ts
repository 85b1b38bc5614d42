// Issue 11 items 3, 5, 7 on a real Redis Cluster (3 masters + 3 replicas, test/helpers/redis-topology.ts),
// one cluster for the whole file: the store contract passes unchanged (so no script or multi-key read
// ever fails with CROSSSLOT); the per-request check spreads over several masters, one MGET each, all
// sent before any answer; the replicated feed arrives over sharded pub/sub only; a write is answered
// once a replica has it (WAIT); one shard that loses its data changes the store epoch. The token
// endpoint end to end, failovers and a slot migration: test/ha/cluster-failover.test.ts; a promoted
// replica that lost acknowledged writes: test/ha/cluster-lost-writes.test.ts (npm run test:ha).
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../../src/store/redis/index.js'
import type { RedisTarget } from '../../src/store/redis/target.js'
import { calculateSlot } from '../../src/store/redis/slots.js'
import { StoreUnavailableError, type RevocationEvent } from '../../src/store/types.js'
import { startCluster, until, type RedisProcess } from '../helpers/redis-topology.js'
import { storeLogRecorder as recorder } from '../helpers/log-capture.js'
import { storeContract } from './contract.js'
import { storeUpdateContract } from './contract-updates.js'
import { storeAuthContract } from './contract-auth.js'
import { storeMobileContract } from './contract-mobile.js'

const cluster = await startCluster()
t.teardown(async () => { await cluster.stop() })
const target: RedisTarget = {
  mode: 'cluster',
  nodes: cluster.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })),
  tls: false,
  minReplicas: 1
}

async function readyStore (prefix = `t-${randomUUID()}:`, logger = recorder(), epochCheckMs?: number, timeoutMs = 2000): Promise<RedisStore> {
  const store = new RedisStore({ target, timeoutMs, prefix, logger, ...(epochCheckMs !== undefined && { epochCheckMs }) })
  if (!await store.ready(10_000)) throw new Error('the cluster store did not become ready')
  return store
}

/** The replica of the master that serves `key`'s slot now (its CLUSTER NODES "myself" line names that master). */
async function replicaOfKey (key: string): Promise<{ master: RedisProcess, replica: RedisProcess }> {
  const master = await cluster.masterOfSlot(calculateSlot(key))
  const masterId = String(await master.call(['CLUSTER', 'MYID']))
  for (const n of cluster.nodes.filter((x) => x !== master && x.running)) {
    const myself = String(await n.call(['CLUSTER', 'NODES'])).split('\n').find((l) => l.includes('myself'))
    if (myself?.includes(` ${masterId} `) === true) return { master, replica: n }
  }
  throw new Error(`no replica of the master of ${key}`)
}

type Master = Awaited<ReturnType<typeof cluster.masters>>[number]
/** A jti and a client whose keys live on two masters other than `sub`'s keys: the check touches all three. */
async function spread (prefix: string, sub: string): Promise<{ jti: string, client: string, owner: (key: string) => Master }> {
  const masters = await cluster.masters()
  const owner = (key: string): Master => masters.find((m) => m.slots.some(([a, b]) => calculateSlot(key) >= a && calculateSlot(key) <= b))!
  const user = owner(`${prefix}revoked-before:{u:${sub}}`)
  let jti = 'j0'
  let client = 'c0'
  for (let i = 0; owner(`${prefix}revoked:jti:{j:${jti}}`) === user; i++) jti = `j${i}`
  for (let i = 0; new Set([owner(`${prefix}revoked:jti:{j:${jti}}`), user, owner(`${prefix}client-disabled:{c:${client}}`)]).size < 3; i++) client = `c${i}`
  return { jti, client, owner }
}

const makeStore = async (): Promise<{ store: RedisStore, cleanup: () => Promise<void> }> => {
  const store = await readyStore()
  return { store, cleanup: async () => { await store.close() } }
}
storeContract(t, makeStore, { feedRepeats: true }) // writes.ts: a revocation found in place is published again
storeUpdateContract(t, makeStore)
storeAuthContract(t, makeStore)
storeMobileContract(t, makeStore)

t.test('Cluster key layout: a user\'s (and a client\'s) keys share a slot; the request check spans several masters', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix)
  t.teardown(() => store.close())
  await store.putUser({ name: 'alice', passwordHash: 'h', scopes: [], disabled: true, createdAt: 1 })
  await store.revokeUserBefore('alice', 1234)
  const slots = [`${prefix}user:{u:alice}`, `${prefix}user-disabled:{u:alice}`, `${prefix}revoked-before:{u:alice}`].map((k) => calculateSlot(k))
  t.equal(new Set(slots).size, 1, 'record, flag and cut-off in one slot')
  // a query whose token, user and client land on three different masters is still answered
  const { jti, client } = await spread(prefix, 'alice')
  const exp = Math.floor(Date.now() / 1000) + 600
  await store.revokeToken(jti, exp)
  await store.putClient({ id: client, secretHash: null, grants: [], scopes: [], disabled: true, createdAt: 1 })
  t.same(await store.checkRevocation({ jti, sub: 'alice', clientId: client, sid: 's-x' }), {
    tokenRevoked: true, sessionRevoked: false, userRevokedBefore: 1234, userDisabled: true, clientDisabled: true, clientRevokedBefore: null
  }, 'one answer from three masters')
  const snapshot = await store.revocationSnapshot()
  t.ok(snapshot.some((e) => e.kind === 'token' && e.id === jti), 'the snapshot scans every master and reads the id inside the tag')
  t.ok(snapshot.some((e) => e.kind === 'client-disabled' && e.id === client))
  t.ok(snapshot.some((e) => e.kind === 'user-cutoff' && e.id === 'alice'))
})

t.test('the per-request check: one MGET per master it touches (one per slot), all sent before any answer', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix, recorder(), 0) // no epoch timer: every command naming the prefix, but for the epoch keys, is the check's
  t.teardown(() => store.close())
  const { jti, client, owner } = await spread(prefix, 'bob')
  const groups = [[`revoked:jti:{j:${jti}}`], ['revoked-before:{u:bob}', 'user-disabled:{u:bob}'], [`client-disabled:{c:${client}}`, `client-revoked-before:{c:${client}}`]]
    .map((keys) => keys.map((k) => prefix + k))
  const seen = new Map<Master['node'], string[][]>(groups.map((keys) => [owner(keys[0]!).node, []]))
  for (const node of seen.keys()) {
    const mon = await node.client().monitor()
    mon.on('monitor', (_time: string, args: string[]) => { if (args.some((a) => a.startsWith(prefix) && !a.includes('epoch'))) seen.get(node)!.push([args[0]!.toLowerCase(), ...args.slice(1)]) })
    t.teardown(() => mon.disconnect())
  }
  // the master of the first slot asked holds its answer back: one after the other, the others would wait for it
  const first = owner(groups[0]![0]!).node
  await first.call(['CLIENT', 'PAUSE', '1000', 'ALL'])
  let settled = false
  const check = store.checkRevocation({ jti, sub: 'bob', clientId: client }).finally(() => { settled = true })
  const others = groups.slice(1).map((keys) => owner(keys[0]!).node)
  await until('the other masters got theirs', async () => others.every((n) => seen.get(n)!.length > 0))
  t.same(seen.get(first), [], 'the paused master has not run its MGET yet')
  t.equal(settled, false, 'and the check waits for it: every MGET was sent before any answer')
  t.same(await check, { tokenRevoked: false, sessionRevoked: false, userRevokedBefore: null, userDisabled: false, clientDisabled: false, clientRevokedBefore: null })
  await until('the paused master ran it', async () => seen.get(first)!.length > 0)
  t.same(groups.map((keys) => seen.get(owner(keys[0]!).node)), groups.map((keys) => [['mget', ...keys]]), 'each master: one MGET of its slot\'s keys, nothing else')
})

t.test('batched counters: a shard that does not answer fails its own keys only (null); the others are counted once', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix, recorder(), undefined, 300)
  t.teardown(() => store.close())
  const masters = await cluster.masters()
  const owner = (key: string): Master => masters.find((m) => m.slots.some(([a, b]) => calculateSlot(key) >= a && calculateSlot(key) <= b))!
  let other = 'k0'
  for (let i = 0; owner(`${prefix}counter:{n:${other}}`) === owner(`${prefix}counter:{n:up}`); i++) other = `k${i}`
  await owner(`${prefix}counter:{n:${other}}`).node.call(['CLIENT', 'PAUSE', '1000', 'WRITE'])
  const results = await store.addCounters([{ key: 'up', delta: 3, windowMs: 60_000 }, { key: other, delta: 3, windowMs: 60_000 }])
  t.match(results, [{ count: 3 }, null], 'the answering shard counted, the held one failed alone')
  t.equal((await store.addCounters([{ key: 'up', delta: 1, windowMs: 60_000 }]))[0]?.count, 4, 'counted once')
})

t.test('WAIT: a revocation is answered once a replica holds it; the replica count is reported', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix)
  t.teardown(() => store.close())
  await until('replicas counted', async () => Object.keys(store.replicas().online).length === 3)
  t.same(store.replicas().short, [], 'every master has its replica')
  const exp = Math.floor(Date.now() / 1000) + 600
  await store.revokeToken('durable', exp)
  const key = `${prefix}revoked:jti:{j:durable}`
  // read it on that master's replica directly: it is there as soon as the call resolved
  const r = (await replicaOfKey(key)).replica.client()
  await r.connect()
  await r.call('READONLY')
  const found = await r.get(key) === '1'
  r.disconnect()
  t.ok(found, 'the replica of the key\'s master holds the revocation')
})

t.test('sharded pub/sub: a revocation reaches a subscriber over SSUBSCRIBE, never a plain SUBSCRIBE', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix)
  t.teardown(() => store.close())
  const events: RevocationEvent[] = []
  let ups = 0
  const feed = store.subscribeRevocations({ event: (e) => { events.push(e) }, up: () => { ups++ }, down: () => {} })
  t.teardown(() => feed.close())
  await until('feed up', async () => ups === 1)
  const channel = `${prefix}revocations`
  const owner = await cluster.masterOfSlot(calculateSlot(channel))
  t.same(await owner.call(['PUBSUB', 'SHARDNUMSUB', channel]), [channel, 1], 'one sharded subscriber, on the master of the channel\'s slot')
  const plain = await Promise.all(cluster.nodes.filter((n) => n.running).map(async (n) => await n.call(['PUBSUB', 'NUMSUB', channel])))
  t.same(plain, plain.map(() => [channel, 0]), 'and no plain subscriber on any node')
  await store.revokeSession('s-feed', Math.floor(Date.now() / 1000) + 600)
  await store.updateUser('nobody', (u) => u) // unknown user: nothing published
  await until('event', async () => events.length === 1)
  t.match(events[0], { kind: 'session', id: 's-feed' })
})

t.test('WAIT not acknowledged on a Cluster: the change is SPUBLISHed before the 503, and again on the retry that finds it in place', async (t) => {
  // without the event, the other instances' replicated views pass a revoked token (or a disabled
  // user's) until their next re-sync, past REVOCATION_MAX_LAG (README "At the edge")
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix, recorder(), undefined, 1000)
  t.teardown(() => store.close())
  const events: RevocationEvent[] = []
  let ups = 0
  const feed = store.subscribeRevocations({ event: (e) => { events.push(e) }, up: () => { ups++ }, down: () => {} })
  t.teardown(() => feed.close())
  await until('feed up, every replica counted', async () => ups === 1 && Object.keys(store.replicas().online).length === 3 && store.replicas().short.length === 0)
  // a token, a cut-off and a user on three different masters: their three replicas frozen at once,
  // no WAIT queued behind another's on one connection
  const masters = await cluster.masters()
  const owner = (key: string): string => masters.find((m) => m.slots.some(([a, b]) => calculateSlot(key) >= a && calculateSlot(key) <= b))?.id ?? ''
  let [jti, sub, name] = ['j0', 's0', 'u0']
  const keys = (): string[] => [`${prefix}revoked:jti:{j:${jti}}`, `${prefix}revoked-before:{u:${sub}}`, `${prefix}user:{u:${name}}`]
  for (let i = 1; owner(keys()[1] ?? '') === owner(keys()[0] ?? ''); i++) sub = `s${i}`
  for (let i = 1; new Set(keys().map(owner)).size < 3; i++) name = `u${i}`
  await store.putUser({ name, passwordHash: 'h', scopes: [], disabled: false, createdAt: 1 })
  const exp = Math.floor(Date.now() / 1000) + 600
  const writes = [
    { key: keys()[0] ?? '', write: async () => { await store.revokeToken(jti, exp) }, is: (e: RevocationEvent) => e.kind === 'token' && e.id === jti },
    // a fixed cut-off: the retry surely finds it in place (the script answers 0)
    { key: keys()[1] ?? '', write: async () => { await store.revokeUserBefore(sub, 1234) }, is: (e: RevocationEvent) => e.kind === 'user-cutoff' && e.id === sub },
    { key: keys()[2] ?? '', write: async () => { await store.updateUser(name, (u) => ({ ...u, disabled: true })) }, is: (e: RevocationEvent) => e.kind === 'user-disabled' && e.id === name && e.disabled }
  ]
  const seen = (): number[] => writes.map((w) => events.filter(w.is).length)
  const pairs = await Promise.all(writes.map(async (w) => await replicaOfKey(w.key)))
  const frozen = [...new Set(pairs.map((p) => p.replica))]
  for (const r of frozen) r.pause() // SIGSTOP: still online for its master, acknowledging nothing
  let errs: unknown[]
  try { errs = await Promise.all(writes.map(async (w) => await w.write().then(() => null, (e: unknown) => e))) } finally { for (const r of frozen) r.resume() }
  for (const e of errs) {
    t.type(e, StoreUnavailableError, 'not acknowledged: 503')
    t.match((e as Error).message, /reached 0 of 1 replica/, 'by WAIT')
  }
  await until('each event, before any retry', async () => seen().every((n) => n === 1))
  // the replicas caught up: each retry below is acknowledged, so it is its own event that arrives
  const offset = (info: unknown): number => Number(/master_repl_offset:(\d+)/.exec(String(info))?.[1])
  for (const { master, replica } of pairs) {
    const target = offset(await master.call(['INFO', 'replication']))
    await until('replica caught up', async () => offset(await replica.call(['INFO', 'replication'])) >= target)
  }
  for (const w of writes) await w.write()
  await until('each retry publishes its change again', async () => seen().every((n) => n === 2))
  t.same(seen(), [2, 2, 2])
  t.match(await store.checkRevocation({ jti, sub: name, clientId: 'c' }), { tokenRevoked: true, userDisabled: true })
})

t.test('E02 on a Cluster: one shard that loses its data (FLUSHALL on its master) changes the epoch, logged once', async (t) => {
  const log = recorder()
  const store = await readyStore(`t-${randomUUID()}:`, log, 50)
  t.teardown(() => store.close())
  const first = await store.epoch.verify()
  t.type(first, 'string')
  await store.epoch.verify() // the shard copies are written by the first check of an epoch
  t.equal(await store.epoch.verify(), first, 'stable while nothing is lost')
  // a master that does not hold the main epoch key loses its data
  const mainSlot = calculateSlot('x{e}epoch')
  const victim = (await cluster.masters()).find((m) => !m.slots.some(([a, b]) => mainSlot >= a && mainSlot <= b))
  if (victim === undefined) throw new Error('no victim')
  const raw = victim.node.client()
  await raw.connect()
  await raw.flushall()
  raw.disconnect()
  await until('epoch changed', async () => store.epoch.current !== null && store.epoch.current !== first)
  t.match(log.errors, [{ reason: 'store_shard_lost' }, { reason: 'store_epoch_changed', previous: first }], 'the shard loss, then the change: one line each')
  const second = store.epoch.current
  await store.epoch.verify()
  t.equal(store.epoch.current, second, 'the new epoch holds: its copies were written again')
})

t.test('E06 on a Cluster: one write counter per master; a master that lacks acknowledged writes changes the epoch', async (t) => {
  const log = recorder()
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix, log, 50)
  t.teardown(() => store.close())
  const { jti, client, owner } = await spread(prefix, 'carol')
  const before = await store.epoch.verify()
  await store.revokeToken(jti, Math.floor(Date.now() / 1000) + 600)
  await store.revokeToken(jti, Math.floor(Date.now() / 1000) + 900) // revoked again: counted again
  await store.revokeUserBefore('carol', 1234)
  await store.putClient({ id: client, secretHash: null, grants: [], scopes: [], disabled: true, createdAt: 1 })
  const counters = await Promise.all([`revoked:jti:{j:${jti}}`, 'revoked-before:{u:carol}', `client:{c:${client}}`].map(async (k) => {
    const keys = await owner(prefix + k).node.call(['KEYS', `${prefix}*epoch-writes`]) as string[]
    return [keys.length, keys.length === 1 ? await owner(prefix + k).node.call(['GET', keys[0]!]) : null]
  }))
  t.same(counters, [[1, '2'], [1, '1'], [1, '1']], 'on each master one counter, one count per write there')
  // what a promoted replica that missed the last write on the client's master looks like
  const victim = owner(`${prefix}client:{c:${client}}`).node
  const [counter] = await victim.call(['KEYS', `${prefix}*epoch-writes`]) as [string]
  await victim.call(['DECR', counter])
  await until('epoch replaced', async () => store.epoch.current !== null && store.epoch.current !== before)
  t.match(log.errors, [{ reason: 'store_lost_writes', counter, acknowledged: 1, found: 0 }, { reason: 'store_epoch_changed', previous: before }], 'one line each')
  t.equal(log.errors.length, 2)
})

t.test('a Cluster node without the key of another slot never sees CROSSSLOT: raw check of the tagged names', async (t) => {
  const raw = new Redis.Cluster(target.nodes)
  t.teardown(() => raw.disconnect())
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix)
  t.teardown(() => store.close())
  await store.putClient({ id: 'app', secretHash: null, grants: [], scopes: [], disabled: true, createdAt: 1 })
  t.same(await raw.mget(`${prefix}client:{c:app}`, `${prefix}client-disabled:{c:app}`).then((v) => v.map((x) => x !== null)), [true, true], 'one MGET: same slot')
})
