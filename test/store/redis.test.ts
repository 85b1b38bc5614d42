// The store contract against RedisStore on a private redis-server started for this file.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../../src/store/redis/index.js'
import { createStore } from '../../src/store/index.js'
import { Jar, loginThrough } from '../helpers/login-form.js'
import { buildOAuthApp, post, seedUser } from '../helpers/oauth.js'
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

t.test('W01: an authorization code and a login session id are stored hashed: neither raw value is in any key or value', async (t) => {
  const prefix = `t-${randomUUID()}:`
  const store = await readyStore(prefix)
  const raw = new Redis(redis.url)
  t.teardown(async () => { await store.close(); await raw.quit() })
  const { app } = await buildOAuthApp(t, { store })
  await seedUser(store, 'alice', 'alice-password', ['read'])
  await store.putClient({ id: 'mobile', secretHash: null, grants: ['authorization_code', 'refresh_token'], scopes: ['read'], redirectUris: ['http://127.0.0.1/cb'], disabled: false, createdAt: 0 })
  const verifier = randomBytes(32).toString('base64url')
  const sha256 = (v: string): string => createHash('sha256').update(v).digest('base64url')
  const query = { response_type: 'code', client_id: 'mobile', redirect_uri: 'http://127.0.0.1/cb', code_challenge: sha256(verifier), code_challenge_method: 'S256' }
  const jar = new Jar()
  const answer = await loginThrough(app, `/oauth/authorize?${new URLSearchParams(query).toString()}`, jar, 'alice', 'alice-password')
  const code = new URL(answer.headers.location as string).searchParams.get('code')!
  const sessionId = decodeURIComponent(jar.cookies.get('portcullis-login') ?? '').split('.')[0]!
  t.match(sessionId, /^[A-Za-z0-9_-]{43}$/, 'the login session id, from its signed cookie')
  /** Every key under the prefix, and every value in it (the store uses strings, hashes, sets and sorted sets). */
  const everything = async (): Promise<string> => {
    const out: string[] = []
    for (const key of await raw.keys(`${prefix}*`)) {
      const type = await raw.type(key)
      out.push(key)
      if (type === 'string') out.push(await raw.get(key) ?? '')
      else if (type === 'hash') out.push(...Object.entries(await raw.hgetall(key)).flat())
      else if (type === 'set') out.push(...await raw.smembers(key))
      else if (type === 'zset') out.push(...await raw.zrange(key, '0', '-1'))
      else t.fail(`unexpected type ${type} of ${key}`)
    }
    return out.join('\n')
  }
  const issued = await everything()
  t.ok(issued.includes(`code:${sha256(code)}`) && issued.includes(`login:${sha256(sessionId)}`), 'both are stored, under their SHA-256')
  t.notOk(issued.includes(code), 'the raw code is nowhere')
  t.notOk(issued.includes(sessionId), 'the raw session id is nowhere')
  const exchanged = await post(app, '/oauth/token', { grant_type: 'authorization_code', client_id: 'mobile', code, redirect_uri: 'http://127.0.0.1/cb', code_verifier: verifier })
  t.equal(exchanged.statusCode, 200, exchanged.body)
  const used = await everything()
  t.notOk(used.includes(code), 'nor once the code is used (kept as the replay marker) and its tokens issued')
})
