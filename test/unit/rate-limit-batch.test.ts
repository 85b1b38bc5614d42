// Batched counters (issue 10 lever 1; src/pipeline/rate-limit-batch.ts): the batch bound, and the
// same store-down behaviour as the exact counters (SECURITY.md F02/F08): counting goes on per instance.
import t from 'tap'
import { BatchedCounters } from '../../src/pipeline/rate-limit-batch.js'
import type { WindowCount } from '../../src/pipeline/rate-limit-store.js'
import { clock, recordingLogger, switchableStore } from '../helpers/counter-store.js'

t.test('batched: a full batch waits for the push in flight, then is decided on its answer', async (t) => {
  const c = clock()
  const s = switchableStore(c.now)
  const b = new BatchedCounters(s.store, { now: c.now, logger: recordingLogger().logger, flushEveryMs: 0, batchFraction: 0.5 })
  const release = s.hold() // a slow store: the push stays in flight
  // limit 8, fraction 0.5: at most 4 hits unsynced; the push starts at 2
  const quick = [1, 2, 3, 4].map(() => b.hit('k', 8, 60_000) as WindowCount)
  t.same(quick.map((r) => r.count), [1, 2, 3, 4], 'within the batch: answered at once')
  t.equal(s.calls(), 1, 'one push started at half the batch')
  const fifth = b.hit('k', 8, 60_000)
  t.ok(fifth instanceof Promise, 'past the batch: waits for the store')
  release()
  t.same(await fifth, { count: 5, ttlMs: 60_000, shared: true }, 'decided after the push was answered')
  await b.flush()
  t.same(await s.store.addCounters([{ key: 'k', delta: 1, windowMs: 60_000 }]), [{ count: 6, ttlMs: 60_000 }], 'every admitted hit reached the store')
})

t.test('batched: store down, each instance keeps counting and limiting locally (logged once); back: the hits are pushed', async (t) => {
  const c = clock()
  const s = switchableStore(c.now)
  const log = recordingLogger()
  const b = new BatchedCounters(s.store, { now: c.now, logger: log.logger, flushEveryMs: 0 })
  s.down(true)
  t.equal((b.hit('k', 3, 60_000) as WindowCount).count, 1, 'counted; the push near the limit fails')
  await b.flush()
  t.ok(b.degraded, 'degraded')
  const local = [0, 1, 2].map(() => b.hit('k', 3, 60_000) as WindowCount)
  t.same(local.map((r) => [r.count, r.shared]), [[2, false], [3, false], [4, false]], 'still limited: the third hit is the last, the fourth refused (count > limit)')
  t.same(log.warn, ['rate limiting degraded to per-instance counters: the store is unavailable'], 'logged once')
  s.down(false)
  c.advance(1000) // retryMs
  await b.flush()
  t.notOk(b.degraded, 'shared again')
  t.same(log.info, ['rate limiting restored to shared counters'])
  t.equal((await s.store.addCounters([{ key: 'k', delta: 1, windowMs: 60_000 }]))[0]!.count, 4, 'the 3 hits counted while down were pushed')
})

t.test('batched: a push of many keys is split into calls of at most 500 keys (each within the command timeout)', async (t) => {
  const c = clock()
  const s = switchableStore(c.now)
  const b = new BatchedCounters(s.store, { now: c.now, logger: recordingLogger().logger, flushEveryMs: 0 })
  for (let i = 0; i < 1200; i++) b.hit(`k${i}`, 1_000_000, 60_000)
  t.equal(s.calls(), 0, 'far from the limit: nothing pushed before the flush')
  await b.flush()
  t.equal(s.calls(), 3, '1200 keys: 3 calls')
  const counts = await s.store.addCounters([{ key: 'k0', delta: 1, windowMs: 60_000 }, { key: 'k1199', delta: 1, windowMs: 60_000 }])
  t.same(counts.map((r) => r?.count), [2, 2], 'the first and the last key were both pushed')
})

t.test('batched: a push that fails for some keys only (a Cluster shard down) sends just those again', async (t) => {
  const c = clock()
  const s = switchableStore(c.now)
  const log = recordingLogger()
  const b = new BatchedCounters(s.store, { now: c.now, logger: log.logger, flushEveryMs: 0 })
  for (let i = 0; i < 3; i++) { b.hit('up', 1_000_000, 60_000); b.hit('down', 1_000_000, 60_000) }
  s.failing.add('down')
  await b.flush()
  t.ok(b.degraded, 'a key that could not be pushed: degraded, as for a store down')
  t.same(log.warn, ['rate limiting degraded to per-instance counters: the store is unavailable'], 'logged once')
  c.advance(1000) // retryMs
  await b.flush() // still down: only that key is sent again
  s.failing.clear()
  c.advance(1000)
  await b.flush()
  t.notOk(b.degraded, 'shared again')
  const [up, down] = await s.store.addCounters([{ key: 'up', delta: 1, windowMs: 60_000 }, { key: 'down', delta: 1, windowMs: 60_000 }])
  t.equal(up?.count, 4, 'the 3 hits of the healthy shard counted once, not once per retry')
  t.equal(down?.count, 4, 'the 3 hits of the failed shard pushed once it is back')
})

t.test('batched: close pushes what is left, then counts locally without a store call (the store closes next)', async (t) => {
  const c = clock()
  const s = switchableStore(c.now)
  const log = recordingLogger()
  const b = new BatchedCounters(s.store, { now: c.now, logger: log.logger, flushEveryMs: 0 })
  for (let i = 0; i < 3; i++) b.hit('k', 1_000_000, 60_000)
  await b.close()
  t.equal(s.calls(), 1, 'one last push')
  s.down(true) // the store is closed after the gateway's preClose
  const late = [0, 1, 2].map(() => b.hit('k', 4, 60_000))
  t.same(late.map((r) => (r as WindowCount).count), [4, 5, 5], 'still limited, synchronously (the third refused)')
  await b.flush()
  t.equal(s.calls(), 1, 'nothing asked of the closed store')
  t.same(log.warn, [], 'and no degradation reported at shutdown')
})
