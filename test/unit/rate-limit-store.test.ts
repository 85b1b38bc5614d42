// The rate-limit counters in the Store and what they tell an operator about a store outage.
import t from 'tap'
import { LocalWindows, RateLimitCounters, DEFAULT_MAX_LOCAL_KEYS } from '../../src/pipeline/rate-limit-store.js'
import { MemoryStore } from '../../src/store/memory/index.js'
import { StoreUnavailableError, type CounterResult, type Store } from '../../src/store/types.js'
import { clock, recordingLogger, switchableStore } from '../helpers/counter-store.js'

// The rate-limit counters: shared fixed windows in the Store, and the bounded per-instance
// fallback used while the store is unavailable (issue 4 point 4; security catalogue §6.1, F02, F08).
// The batched counters: rate-limit-batch.test.ts.

t.test('LocalWindows', async (t) => {
  t.test('counts hits in a fixed window started by the first hit, then starts afresh', async (t) => {
    const w = new LocalWindows(10)
    t.same(w.increment('k', 1000, 0), { count: 1, ttlMs: 1000 })
    t.same(w.increment('k', 1000, 400), { count: 2, ttlMs: 600 }, 'the window does not slide')
    t.same(w.increment('k', 1000, 999), { count: 3, ttlMs: 1 })
    t.same(w.increment('k', 1000, 1000), { count: 1, ttlMs: 1000 }, 'at the reset instant a new window starts')
    t.same(w.increment('other', 1000, 1000), { count: 1, ttlMs: 1000 }, 'keys are independent')
  })

  t.test('never holds more than maxKeys; the oldest window is evicted first', async (t) => {
    const w = new LocalWindows(3)
    w.increment('a', 10_000, 0)
    w.increment('b', 10_000, 1)
    w.increment('c', 10_000, 2)
    w.increment('a', 10_000, 3) // same window: a stays the oldest
    w.increment('d', 10_000, 4) // evicts a
    t.equal(w.size, 3)
    t.equal(w.increment('b', 10_000, 5).count, 2, 'b survived')
    t.equal(w.increment('a', 10_000, 6).count, 1, 'a was evicted and starts afresh (evicting c)')
    t.equal(w.increment('d', 10_000, 7).count, 2, 'd survived')
    for (let i = 0; i < 1000; i++) w.increment(`flood-${i}`, 10_000, 8)
    t.equal(w.size, 3, 'a flood of distinct keys does not grow the map')
  })

  t.test('a key whose window expired moves to the back (it is now the newest window)', async (t) => {
    const w = new LocalWindows(2)
    w.increment('a', 100, 0)
    w.increment('b', 1000, 50)
    w.increment('a', 100, 200) // a's window expired: new window, now newer than b's
    w.increment('c', 1000, 300) // evicts b, the oldest window
    t.equal(w.increment('a', 100, 250).count, 2, 'a kept its new window')
    t.equal(w.increment('b', 1000, 310).count, 1, 'b was the one evicted')
  })

  t.test('clear drops every window', async (t) => {
    const w = new LocalWindows(5)
    w.increment('a', 1000, 0)
    w.clear()
    t.equal(w.size, 0)
  })

  t.test('a bound that is not a positive integer is a TypeError', async (t) => {
    for (const bad of [0, -1, 1.5, Number.NaN]) t.throws(() => new LocalWindows(bad), TypeError, String(bad))
  })
})

t.test('RateLimitCounters', async (t) => {
  t.test('store up: counts come from the shared store', async (t) => {
    const c = clock()
    const s = switchableStore(c.now)
    const counters = new RateLimitCounters(s.store, { now: c.now })
    t.same(await counters.increment('k', 1000), { count: 1, ttlMs: 1000, shared: true })
    c.advance(250)
    t.same(await counters.increment('k', 1000), { count: 2, ttlMs: 750, shared: true })
    t.same(await s.store.incrementCounter('k', 1000), { count: 3, ttlMs: 750 }, 'the hits are in the store')
    t.equal(counters.degraded, false)
  })

  t.test('store down: counts locally with the same windows, logs once, never throws', async (t) => {
    const c = clock()
    const s = switchableStore(c.now)
    const log = recordingLogger()
    const counters = new RateLimitCounters(s.store, { now: c.now, logger: log.logger, retryMs: 1000, logEveryMs: 60_000 })
    s.down(true)
    t.same(await counters.increment('k', 5000), { count: 1, ttlMs: 5000, shared: false })
    t.same(await counters.increment('k', 5000), { count: 2, ttlMs: 5000, shared: false })
    t.equal(counters.degraded, true)
    t.equal(log.warn.length, 1)
    t.match(log.warn[0], /degraded to per-instance/)
    t.equal(s.calls(), 1, 'within retryMs the store is not asked again (a frozen Redis would cost a timeout each)')
    c.advance(1000)
    t.same(await counters.increment('k', 5000), { count: 3, ttlMs: 4000, shared: false }, 'the probe failed: still local')
    t.equal(s.calls(), 2, 'one probe after retryMs')
    t.equal(log.warn.length, 1, 'no second warning within logEveryMs')
    c.advance(60_000)
    await counters.increment('k', 5000)
    t.equal(log.warn.length, 2, 'the warning is repeated once per logEveryMs while degraded')
  })

  t.test('store back: the next probe returns to shared counters and drops the local windows', async (t) => {
    const c = clock()
    const s = switchableStore(c.now)
    const log = recordingLogger()
    const counters = new RateLimitCounters(s.store, { now: c.now, logger: log.logger, retryMs: 500 })
    s.down(true)
    await counters.increment('k', 60_000)
    await counters.increment('k', 60_000)
    s.down(false)
    t.equal((await counters.increment('k', 60_000)).shared, false, 'before retryMs the store is not tried')
    c.advance(500)
    t.same(await counters.increment('k', 60_000), { count: 1, ttlMs: 60_000, shared: true }, 'the store counts again (its own count)')
    t.equal(counters.degraded, false)
    t.same(log.info, ['rate limiting restored to shared counters'])
    s.down(true)
    c.advance(1)
    t.same(await counters.increment('k', 60_000), { count: 1, ttlMs: 60_000, shared: false },
      'a later outage starts from fresh local windows (the old ones were dropped)')
  })

  t.test('while one probe is in flight, other hits are counted locally without waiting for it', async (t) => {
    const c = clock()
    const s = switchableStore(c.now)
    const counters = new RateLimitCounters(s.store, { now: c.now, retryMs: 100 })
    s.down(true)
    await counters.increment('k', 10_000)
    c.advance(100)
    const release = s.hold()
    const probe = counters.increment('k', 10_000)
    const during = await counters.increment('k', 10_000)
    t.same(during, { count: 2, ttlMs: 9900, shared: false })
    t.equal(s.calls(), 2, 'only the probe reached the store')
    s.down(false)
    release()
    t.equal((await probe).shared, true, 'the probe answered: shared again')
  })

  t.test('an error that is not StoreUnavailableError is a bug and propagates', async (t) => {
    const store = Object.create(new MemoryStore()) as Store
    store.incrementCounter = async () => { throw new TypeError('boom') }
    await t.rejects(new RateLimitCounters(store).increment('k', 1000), TypeError)
  })
})

// What the rate-limit counters tell an operator about a store outage (SECURITY.md F02, F08): nothing
// while the store is healthy, one warning when counting degrades to per-instance, a repeat at most every
// LOG_EVERY while it lasts, one info line when it is restored. Counting itself:
// above in this file.

function setup (opts: { logEveryMs?: number } = {}): { counters: RateLimitCounters, down: (yes: boolean) => void, advance: (ms: number) => void, warn: string[], info: string[], objects: object[] } {
  let now = 1_000_000
  let isDown = false
  const inner = new MemoryStore({ now: () => now })
  const store = new Proxy(inner, {
    get (target, prop) {
      if (prop === 'incrementCounter') {
        return async (key: string, windowMs: number): Promise<CounterResult> => {
          if (isDown) throw new StoreUnavailableError('down')
          return await target.incrementCounter(key, windowMs)
        }
      }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  }) as unknown as Store
  const warn: string[] = []
  const info: string[] = []
  const objects: object[] = []
  const logger = { warn: (o: object, m: string) => { warn.push(m); objects.push(o) }, info: (o: object, m: string) => { info.push(m); objects.push(o) } }
  const counters = new RateLimitCounters(store, { retryMs: 0, logger, now: () => now, ...(opts.logEveryMs === undefined ? {} : { logEveryMs: opts.logEveryMs }) })
  return { counters, down: (yes) => { isDown = yes }, advance: (ms) => { now += ms }, warn, info, objects }
}

t.test('a healthy store: shared counts, nothing logged, not degraded', async (t) => {
  const s = setup()
  t.equal(s.counters.degraded, false, 'not degraded before the first hit')
  for (let i = 1; i <= 3; i++) t.same(await s.counters.increment('k', 1000), { count: i, ttlMs: 1000, shared: true })
  t.same(s.warn, [])
  t.same(s.info, [], 'no "restored" line without an outage')
})

t.test('F02: one warning when degrading; one info line when restored, and only then', async (t) => {
  const s = setup()
  s.down(true)
  t.equal((await s.counters.increment('k', 1000)).shared, false)
  t.equal(s.counters.degraded, true)
  t.equal(s.warn.length, 1)
  s.down(false)
  t.equal((await s.counters.increment('k', 1000)).shared, true)
  t.equal(s.counters.degraded, false)
  t.equal(s.info.length, 1)
  await s.counters.increment('k', 1000)
  await s.counters.increment('k', 1000)
  t.equal(s.info.length, 1, 'shared counting goes on without more lines')
})

t.test('F08: while the outage lasts the warning repeats at most every LOG_EVERY (60 s by default)', async (t) => {
  const custom = setup({ logEveryMs: 10 })
  custom.down(true)
  await custom.counters.increment('k', 1000)
  custom.advance(5)
  await custom.counters.increment('k', 1000)
  t.equal(custom.warn.length, 1, 'within 10 ms: no repeat')
  custom.advance(5)
  await custom.counters.increment('k', 1000)
  t.equal(custom.warn.length, 2, 'after 10 ms: repeated')

  const byDefault = setup()
  byDefault.down(true)
  await byDefault.counters.increment('k', 1000)
  byDefault.advance(59_999)
  await byDefault.counters.increment('k', 1000)
  t.equal(byDefault.warn.length, 1, 'within a minute: no repeat')
  byDefault.advance(1)
  await byDefault.counters.increment('k', 1000)
  t.equal(byDefault.warn.length, 2, 'after a minute: repeated')
})

t.test('the log lines say what happened and how much was counted locally', async (t) => {
  const s = setup({ logEveryMs: 10 })
  s.down(true)
  await s.counters.increment('k', 1000)
  await s.counters.increment('k', 1000)
  await s.counters.increment('k', 1000)
  s.advance(10)
  await s.counters.increment('k', 1000)
  s.down(false)
  await s.counters.increment('k', 1000)
  t.same(s.warn, ['rate limiting degraded to per-instance counters: the store is unavailable', 'rate limiting degraded to per-instance counters: the store is unavailable'])
  t.same(s.info, ['rate limiting restored to shared counters'])
  t.same(s.objects, [
    { stage: 'rate-limit', reason: 'rate_limit_degraded', err: 'down', countedLocally: 0, maxLocalKeys: DEFAULT_MAX_LOCAL_KEYS },
    { stage: 'rate-limit', reason: 'rate_limit_degraded', err: 'down', countedLocally: 3, maxLocalKeys: DEFAULT_MAX_LOCAL_KEYS },
    { stage: 'rate-limit', reason: 'rate_limit_restored', countedLocally: 1 }
  ], 'hits counted locally since the previous line')
})

t.test('LocalWindows: one key is a valid bound; the error names the bad one', async (t) => {
  const w = new LocalWindows(1)
  t.same(w.increment('a', 100, 0), { count: 1, ttlMs: 100 })
  t.throws(() => new LocalWindows(0), { name: 'TypeError', message: 'maxKeys must be a positive integer, got 0' })
})
