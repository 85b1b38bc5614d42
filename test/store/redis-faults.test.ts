// RedisStore against a real redis-server that is absent, killed, frozen or refusing writes
// (security catalogue §6.2 F01-F05). Every call must settle with StoreUnavailableError
// within the command timeout, and the store must heal by itself when Redis is back.
// The elapsed-time bounds are correctness bounds on not hanging, not speed targets.

import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { StoreUnavailableError, type Store } from '../../src/store/types.js'
import { RedisStore, type StoreLogger } from '../../src/store/redis/index.js'
import { freePort, startRedis } from '../helpers/redis-server.js'

const TIMEOUT_MS = 400
const HANG_BOUND_MS = 2500 // timeout + generous margin for a loaded CI machine
const RECOVERY_BOUND_MS = 5000 // reconnect backoff is capped at 1 s

interface Logged { level: string; msg: string }
function recordingLogger (): { logger: StoreLogger; lines: Logged[] } {
  const lines: Logged[] = []
  const at = (level: string) => (_obj: object, msg: string): void => { lines.push({ level, msg }) }
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines }
}

/** One call of each shape: plain command, MGET, Lua script. */
const probes: Array<[string, (s: Store) => Promise<unknown>]> = [
  ['ping', async (s) => await s.ping()],
  ['getUser', async (s) => await s.getUser('alice')],
  ['checkRevocation', async (s) => await s.checkRevocation({ jti: 'j', sid: 's', sub: 'alice', clientId: 'app' })],
  ['consumeRefreshToken', async (s) => await s.consumeRefreshToken('h')],
  ['incrementCounter', async (s) => await s.incrementCounter('c', 1000)]
]

/** Every probe rejects with StoreUnavailableError (cause attached) within `bound` ms. */
async function expectUnavailable (t: Test, store: Store, bound: number, when: string): Promise<void> {
  const results = await Promise.all(probes.map(async ([name, call]) => {
    const started = Date.now()
    const outcome = await call(store).then(() => 'resolved', (err: unknown) => err)
    return { name, outcome, elapsed: Date.now() - started }
  }))
  for (const { name, outcome, elapsed } of results) {
    t.ok(outcome instanceof StoreUnavailableError, `${when}: ${name} rejects with StoreUnavailableError`)
    t.ok(outcome instanceof Error && outcome.cause !== undefined, `${when}: ${name} keeps the ioredis error as cause`)
    t.ok(elapsed < bound, `${when}: ${name} settled in ${elapsed} ms (< ${bound})`)
  }
}

/** Polls until the store answers a script call (proves reconnect and EVALSHA/EVAL fallback). */
async function expectRecovery (t: Test, store: Store, when: string): Promise<void> {
  const started = Date.now()
  let last: unknown
  while (Date.now() - started < RECOVERY_BOUND_MS) {
    try {
      await store.ping()
      const counted = await store.incrementCounter(`recovered-${randomUUID()}`, 1000)
      t.equal(counted.count, 1, `${when}: a script runs again after ${Date.now() - started} ms, same store object`)
      return
    } catch (err) { last = err }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.fail(`${when}: store did not recover within ${RECOVERY_BOUND_MS} ms`, { last })
}

t.test('F01/F05: Redis absent at construction, then started on that port', async (t) => {
  const port = await freePort()
  const { logger, lines } = recordingLogger()
  const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, timeoutMs: TIMEOUT_MS, prefix: `f-${randomUUID()}:`, logger })
  t.teardown(async () => { await store.close() })

  t.equal(await store.ready(300), false, 'readiness reports not-ready')
  await expectUnavailable(t, store, 1500, 'absent')
  const warns = lines.filter((l) => l.level === 'warn').length
  t.ok(warns >= 1 && warns <= 2, `connection errors are logged, rate-limited (${warns} warn lines)`)

  const redis = await startRedis({ port })
  t.teardown(async () => { await redis.stop() })
  await expectRecovery(t, store, 'started later')
  t.ok(lines.some((l) => l.level === 'info' && /restored/.test(l.msg)), 'recovery is logged')
})

t.test('F02/F05: Redis killed mid-use, then restarted', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => { await redis.stop() })
  const store = new RedisStore({ url: redis.url, timeoutMs: TIMEOUT_MS, prefix: `f-${randomUUID()}:` })
  t.teardown(async () => { await store.close() })
  t.equal(await store.ready(5000), true)
  t.equal((await store.incrementCounter('c', 60_000)).count, 1, 'working before the kill')

  await redis.kill()
  await expectUnavailable(t, store, TIMEOUT_MS + 500, 'killed')

  await redis.restart()
  await expectRecovery(t, store, 'restarted')
  t.equal((await store.incrementCounter('c', 60_000)).count, 1, 'F08: a lost counter restarts at 1, not NaN')
})

t.test('F03/F05: Redis frozen (SIGSTOP), then resumed', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => { await redis.stop() }) // stop() sends SIGCONT first
  const store = new RedisStore({ url: redis.url, timeoutMs: TIMEOUT_MS, prefix: `f-${randomUUID()}:` })
  t.teardown(async () => { await store.close() })
  t.equal(await store.ready(5000), true)

  redis.pause()
  await expectUnavailable(t, store, HANG_BOUND_MS, 'frozen')
  // A second wave while still frozen: no pile-up, each call is bounded on its own.
  await expectUnavailable(t, store, HANG_BOUND_MS, 'still frozen')

  redis.resume()
  await expectRecovery(t, store, 'resumed')
})

t.test('close() does not hang on a frozen Redis', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => { await redis.stop() })
  const store = new RedisStore({ url: redis.url, timeoutMs: TIMEOUT_MS, prefix: `f-${randomUUID()}:` })
  t.equal(await store.ready(5000), true)
  redis.pause()
  const started = Date.now()
  await store.close()
  t.ok(Date.now() - started < HANG_BOUND_MS, `close settled in ${Date.now() - started} ms`)
  await t.rejects(store.ping(), StoreUnavailableError, 'closed store rejects')
  redis.resume()
})

t.test('F04: error replies from a live Redis are StoreUnavailableError', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => { await redis.stop() })
  const admin = new Redis(redis.url)
  t.teardown(async () => { await admin.quit() })
  const store = new RedisStore({ url: redis.url, timeoutMs: TIMEOUT_MS, prefix: `f-${randomUUID()}:` })
  t.teardown(async () => { await store.close() })
  t.equal(await store.ready(5000), true)
  const user = { name: 'alice', passwordHash: 'h', scopes: [], disabled: false, createdAt: 1 }

  const cases: Array<{ reply: RegExp; proves: string; inject(): Promise<unknown>; undo(): Promise<unknown> }> = [
    {
      reply: /OOM/,
      proves: 'out of memory with noeviction refuses writes',
      inject: async () => await admin.config('SET', 'maxmemory', '1'),
      undo: async () => await admin.config('SET', 'maxmemory', '0')
    },
    {
      reply: /READONLY/,
      proves: 'a replica (after failover) refuses writes',
      inject: async () => await admin.replicaof('127.0.0.1', await freePort()),
      undo: async () => await admin.replicaof('NO', 'ONE')
    }
  ]
  for (const c of cases) {
    await c.inject()
    const err = await store.putUser(user).then(() => null, (e: unknown) => e)
    await c.undo()
    t.type(err, StoreUnavailableError, c.proves)
    t.match((err as Error | null)?.cause, { message: c.reply }, `cause is the ${String(c.reply)} reply`)
  }
  t.equal(await store.putUser(user), true, 'writes work again once Redis is healthy')
})
