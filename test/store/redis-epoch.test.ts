// The store epoch at the store level (SECURITY.md E01, E02, E04) on private redis-servers: one epoch
// per data set, claimed SET NX by whichever instance comes first; a new one after FLUSHALL or a
// restart without persistence (one error line), the same one after a restart with persistence;
// and a Redis that may evict keys is never vouched for, whether CONFIG GET or only INFO answers.
import t from 'tap'
import { Redis } from 'ioredis'
import { MemoryStore, RedisStore } from '../../src/store/index.js'
import { startRedis, type RedisHandle } from '../helpers/redis-server.js'

function recorder (): { errors: object[], info: () => void, warn: () => void, error: (o: object) => void } {
  const errors: object[] = []
  return { errors, info () {}, warn () {}, error (o: object) { errors.push(o) } }
}

async function storeOn (t: { teardown(fn: () => unknown): void }, redis: RedisHandle, logger = recorder()): Promise<RedisStore> {
  const store = new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'e:', logger, epochCheckMs: 50 })
  t.teardown(() => store.close())
  if (!await store.ready(5000)) throw new Error('redis-server did not become ready')
  return store
}

async function changed (store: RedisStore, from: string | null): Promise<string> {
  const deadline = Date.now() + 10_000
  while (store.epoch.current === null || store.epoch.current === from) {
    if (Date.now() > deadline) throw new Error('the epoch did not change')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return store.epoch.current
}

t.test('memory store: one epoch per process (per store), confirmed at once', async (t) => {
  const a = new MemoryStore()
  const b = new MemoryStore()
  t.type(a.epoch.current, 'string')
  t.equal(await a.epoch.verify(), a.epoch.current, 'stable')
  t.not(a.epoch.current, b.epoch.current, 'another process has another epoch')
})

t.test('E01/E02: one epoch per data set; FLUSHALL and a restart without persistence make a new one, logged once', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const logA = recorder()
  const a = await storeOn(t, redis, logA)
  const b = await storeOn(t, redis)
  const first = a.epoch.current
  t.type(first, 'string')
  t.equal(b.epoch.current, first, 'the second store found the first one\'s epoch (SET NX)')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  t.equal(await raw.get('e:epoch'), first, 'stored under the prefix, no TTL')
  t.equal(await raw.pttl('e:epoch'), -1)

  await raw.flushall()
  const second = await changed(a, first)
  t.equal(await changed(b, first), second, 'both stores agree on the new epoch')
  t.match(a.epoch.status(), { current: second, previous: first, unsafe: null })
  t.type(a.epoch.status().changedAt, 'number')
  t.equal(logA.errors.length, 1, 'one error line for the change')
  t.match(logA.errors[0], { reason: 'store_epoch_changed', previous: first, current: second })

  raw.disconnect()
  await redis.restart()
  const third = await changed(a, second)
  t.not(third, first)
  t.equal(logA.errors.length, 2, 'one more line for the restart, not one per check')
})

t.test('a restart with persistence keeps the epoch: nothing is refused, nothing logged', async (t) => {
  const redis = await startRedis({ persistent: true })
  t.teardown(() => redis.stop())
  const log = recorder()
  const store = await storeOn(t, redis, log)
  const epoch = store.epoch.current
  await redis.kill() // SIGKILL: appendfsync always lost nothing acknowledged
  await redis.restart()
  if (!await store.ready(5000)) throw new Error('did not reconnect')
  t.equal(store.epoch.current, epoch, 'the same epoch')
  t.equal(log.errors.length, 0)
})

t.test('E04: an evicting maxmemory-policy is never vouched for (CONFIG GET)', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const log = recorder()
  const store = await storeOn(t, redis, log)
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  for (const policy of ['allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl']) {
    await raw.config('SET', 'maxmemory-policy', policy)
    t.equal(await store.epoch.verify(), null, `${policy}: no epoch vouched for`)
    t.match(store.epoch.status().unsafe, new RegExp(`maxmemory-policy is ${policy}`), `${policy}: the reason names it`)
  }
  t.equal(log.errors.length, 7, 'one line per policy seen, not one per check')
  await raw.config('SET', 'maxmemory-policy', 'noeviction')
  t.type(await store.epoch.verify(), 'string', 'noeviction: vouched for again')
  t.equal(store.epoch.status().unsafe, null)
})

t.test('E04: with CONFIG disabled (managed Redis) the policy is read from INFO memory', async (t) => {
  const redis = await startRedis({ args: ['--rename-command', 'CONFIG', '', '--maxmemory-policy', 'volatile-lru'] })
  t.teardown(() => redis.stop())
  const store = await storeOn(t, redis)
  t.equal(await store.epoch.verify(), null)
  t.match(store.epoch.status().unsafe, /maxmemory-policy is volatile-lru/)
})
