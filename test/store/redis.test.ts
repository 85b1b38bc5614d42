// The store contract against RedisStore on a private redis-server started for this file.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../../src/store/redis/index.js'
import { createStore } from '../../src/store/index.js'
import { startRedis } from '../helpers/redis-server.js'
import { storeContract } from './contract.js'
import { storeUpdateContract } from './contract-updates.js'
import { storeAuthContract } from './contract-auth.js'
import { storeMobileContract } from './contract-mobile.js'

const redis = await startRedis()
t.teardown(async () => { await redis.stop() })

async function readyStore (prefix: string): Promise<RedisStore> {
  const store = new RedisStore({ url: redis.url, timeoutMs: 1000, prefix })
  if (!await store.ready(5000)) throw new Error('test redis did not become ready')
  return store
}

const makeRedis = async (): Promise<{ store: RedisStore, cleanup: () => Promise<void> }> => {
  const store = await readyStore(`t-${randomUUID()}:`)
  return { store, cleanup: async () => { await store.close() } }
}
storeContract(t, makeRedis)
storeUpdateContract(t, makeRedis)
storeAuthContract(t, makeRedis)
storeMobileContract(t, makeRedis)

t.test('createStore with a Redis URL gives the redis store', async (t) => {
  const store = createStore({ redisUrl: redis.url, timeoutMs: 1000, prefix: `t-${randomUUID()}:` })
  t.teardown(async () => { await store.close() })
  t.equal(store.kind, 'redis')
  t.equal(await (store as RedisStore).ready(5000), true)
})

t.test('key layout and TTLs in Redis (TTL = remaining lifetime of what a key guards)', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix)
  const raw = new Redis(redis.url)
  t.teardown(async () => { await store.close(); await raw.quit() })
  const exp = Math.floor(Date.now() / 1000) + 600

  await store.putUser({ name: 'alice', passwordHash: 'h', scopes: [], disabled: true, createdAt: 1 })
  await store.putClient({ id: 'app', secretHash: null, grants: [], scopes: [], disabled: false, createdAt: 1 })
  await store.putRefreshToken('rt', { sid: 's', sub: 'alice', clientId: 'app', scope: [], issuedAt: 1, expiresAt: exp })
  await store.revokeToken('j', exp)
  await store.revokeSession('s', exp)
  await store.revokeUserBefore('alice', 1234)
  await store.incrementCounter('c', 30_000)
  await store.addKey({ kid: 'k', alg: 'EdDSA', privateKeyPem: 'p', publicKeyPem: 'q', createdAt: 1, retireAt: null })
  await store.epoch.verify() // claimed on connect; awaited here so the listing is deterministic

  const keys = (await raw.keys(`${prefix}*`)).map((k) => k.slice(prefix.length)).sort()
  t.same(keys, ['client:app', 'clients', 'counter:c', 'epoch', 'epoch-writes', 'keys', 'revoked-before:alice', 'revoked:jti:j', 'revoked:sid:s',
    'rt:rt', 'user-disabled:alice', 'user:alice', 'users'], 'every key carries the prefix; an enabled client has no flag key')

  const ttl = async (k: string): Promise<number> => await raw.pttl(prefix + k)
  for (const k of ['rt:rt', 'revoked:jti:j', 'revoked:sid:s']) {
    const left = await ttl(k)
    t.ok(left > 590_000 && left <= 600_000, `${k} lives until expiresAt (${left} ms)`)
  }
  const window = await ttl('counter:c')
  t.ok(window > 29_000 && window <= 30_000, `counter lives for its window (${window} ms)`)
  for (const k of ['user:alice', 'user-disabled:alice', 'revoked-before:alice', 'keys', 'users', 'epoch', 'epoch-writes']) {
    t.equal(await ttl(k), -1, `${k} has no TTL`)
  }
})

t.test('a counter key left without TTL gets one on the next hit (F08: no immortal counters)', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix)
  const raw = new Redis(redis.url)
  t.teardown(async () => { await store.close(); await raw.quit() })
  await raw.set(`${prefix}counter:stuck`, '5')
  const r = await store.incrementCounter('stuck', 10_000)
  t.equal(r.count, 6)
  t.ok(r.ttlMs > 0 && r.ttlMs <= 10_000)
  t.ok(await raw.pttl(`${prefix}counter:stuck`) > 0, 'PTTL set')
})

t.test('a Redis error reply is a StoreUnavailableError with the cause attached', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix)
  const raw = new Redis(redis.url)
  t.teardown(async () => { await store.close(); await raw.quit() })
  await raw.hset(`${prefix}user:wrongtype`, 'x', '1') // WRONGTYPE for GET
  const err = await store.getUser('wrongtype').then(() => null, (e: unknown) => e)
  t.type(err, 'StoreUnavailableError')
  t.match((err as Error).cause, { message: /WRONGTYPE/ }, 'the ioredis error is the cause')
})
