// What the rate-limit counters tell an operator about a store outage (SECURITY.md F02, F08): nothing
// while the store is healthy, one warning when counting degrades to per-instance, a repeat at most every
// LOG_EVERY while it lasts, one info line when it is restored. Counting itself:
// test/unit/rate-limit-store.test.ts.
import t from 'tap'
import { DEFAULT_MAX_LOCAL_KEYS, LocalWindows, RateLimitCounters } from '../../src/pipeline/rate-limit-store.js'
import { MemoryStore } from '../../src/store/memory/index.js'
import { StoreUnavailableError, type CounterResult, type Store } from '../../src/store/types.js'

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
