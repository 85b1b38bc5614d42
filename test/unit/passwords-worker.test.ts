// Lever 3 of issue 6: bcrypt runs in worker threads, never on the event loop, behind the same API
// (hashSecret, verifySecret, setDummyCost), and an unknown user still costs one compare.
import t from 'tap'
import { threadId } from 'node:worker_threads'
import {
  closePasswordPool, configurePasswordPool, hashSecret, passwordPoolStats, setDummyCost, verifySecret
} from '../../src/oauth/passwords.js'

t.teardown(closePasswordPool)

t.test('hashes and compares are tasks of the worker pool, not of this thread', async (t) => {
  await closePasswordPool()
  configurePasswordPool({ threads: 2 })
  const hash = await hashSecret('correct horse', 4)
  t.equal(await verifySecret('correct horse', hash), true)
  t.equal(await verifySecret('wrong horse', hash), false)
  const stats = passwordPoolStats()
  t.equal(stats.threads, 2, 'BCRYPT_THREADS worker threads')
  t.equal(stats.completed, 3, 'one hash and two compares ran in the pool')
  t.equal(threadId, 0, 'the test itself is the main thread')
})

t.test('an unknown user (null hash) still costs one compare in the pool', async (t) => {
  await setDummyCost(4)
  const before = passwordPoolStats().completed
  t.equal(await verifySecret('anything', null), false)
  t.equal(passwordPoolStats().completed, before + 1)
})

t.test('the event loop keeps turning while a costly hash is in flight', async (t) => {
  // bcryptjs on the event loop yields only between ~100 ms chunks, so a 1 ms timer could fire at
  // most about once per 100 ms; in a worker the loop is free and the timer fires all the time
  let ticks = 0
  const timer = setInterval(() => { ticks++ }, 1)
  const started = Date.now()
  const hash = await hashSecret('correct horse', 12)
  const elapsed = Date.now() - started
  clearInterval(timer)
  t.match(hash, /^\$2[aby]\$12\$/)
  const onLoopAtMost = Math.ceil(elapsed / 100) + 10
  t.ok(ticks > onLoopAtMost, `${ticks} timer ticks in ${elapsed} ms (on the event loop: at most ~${onLoopAtMost})`)
})

t.test('a closed pool starts again on the next use', async (t) => {
  await closePasswordPool()
  t.equal(passwordPoolStats().threads, 0)
  t.equal(await verifySecret('x', await hashSecret('x', 4)), true)
})

t.test('misuse is a TypeError', async (t) => {
  t.throws(() => { configurePasswordPool({ threads: 0 }) }, TypeError)
  await t.rejects(hashSecret('x', 3), TypeError)
})
