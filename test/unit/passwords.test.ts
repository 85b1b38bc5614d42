// Password and secret hashing (bcrypt): its limits and constant cost, and the worker threads it runs in.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { cpus } from 'node:os'
import { threadId } from 'node:worker_threads'
import { EmptySecretError, hashSecret, MAX_SECRET_BYTES, SecretTooLongError, setDummyCost, verifySecret, closePasswordPool, configurePasswordPool, passwordPoolStats } from '../../src/oauth/passwords.js'
import { STARVED_BACK_OFF_TASKS } from '../../src/oauth/bcrypt-worker.js'
import { nodeChild } from '../helpers/node-child.js'
import { ROOT_URL } from '../helpers/root.js'
import { NICE, POLICY, SCHED_IDLE, SCHED_OTHER, countOf, threadStat } from '../helpers/threads.js'

// bcrypt's 72-byte limit is refused, never truncated (catalogue T27, T28), and an unknown user or
// client costs one bcrypt compare like a known one (issue 3 §2: same response in about the same time).

const COST = 4

t.test('a secret round-trips through hashSecret and verifySecret', async (t) => {
  const hash = await hashSecret('correct horse', COST)
  t.match(hash, /^\$2[aby]\$04\$/, 'a bcrypt hash of the requested cost')
  t.equal(await verifySecret('correct horse', hash), true)
  t.equal(await verifySecret('correct hors', hash), false)
  t.equal(await verifySecret('Correct horse', hash), false)
})

t.test('T27: 72 bytes are accepted, a 73rd byte is refused rather than truncated', async (t) => {
  const max = 'a'.repeat(MAX_SECRET_BYTES)
  const hash = await hashSecret(max, COST)
  t.equal(await verifySecret(max, hash), true)
  await t.rejects(hashSecret(`${max}X`, COST), SecretTooLongError, '72×a + X is refused at set')
  // bcrypt alone would accept this: it only reads the first 72 bytes
  t.equal(await verifySecret(`${max}X`, hash), false, 'an over-long input never matches its 72-byte prefix')
})

t.test('T28: the limit counts UTF-8 bytes, not characters', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['70 ASCII + é (2 bytes) = 72 bytes', `${'a'.repeat(70)}é`, true],
    ['71 ASCII + é (2 bytes) = 73 bytes, only 72 characters', `${'a'.repeat(71)}é`, false],
    ['69 ASCII + € (3 bytes) = 72 bytes', `${'a'.repeat(69)}€`, true],
    ['70 ASCII + € (3 bytes) = 73 bytes', `${'a'.repeat(70)}€`, false],
    ['68 ASCII + 😀 (4 bytes) = 72 bytes', `${'a'.repeat(68)}😀`, true],
    ['69 ASCII + 😀 (4 bytes) = 73 bytes', `${'a'.repeat(69)}😀`, false],
    ['24 × € = 72 bytes', '€'.repeat(24), true],
    ['25 × € = 75 bytes in 25 characters', '€'.repeat(25), false]
  ]
  for (const [what, secret, accepted] of cases) {
    if (accepted) {
      t.equal(await verifySecret(secret, await hashSecret(secret, COST)), true, what)
    } else {
      await t.rejects(hashSecret(secret, COST), SecretTooLongError, what)
    }
  }
})

t.test('empty secrets and bad costs are refused', async (t) => {
  await t.rejects(hashSecret('', COST), EmptySecretError)
  await t.rejects(hashSecret('x', 3), TypeError, 'cost below 4')
  await t.rejects(hashSecret('x', 4.5), TypeError, 'fractional cost')
  const hash = await hashSecret('x', COST)
  t.equal(await verifySecret('', hash), false)
})

t.test('hashes stored by earlier releases (bcryptjs, $2a$/$2b$, and $2y$ from elsewhere) still verify', async (t) => {
  // made by bcryptjs 3.0.3 (hashSync('earlier-release', 4)), the hashing library before the native bcrypt
  const stored = '$2b$04$JN9auognYYEAbac1zWj9R.J03U0iHh8eh6vj6BIL/4JNDegqrNs/.'
  for (const prefix of ['$2a$', '$2b$', '$2y$']) {
    const hash = prefix + stored.slice(4)
    t.equal(await verifySecret('earlier-release', hash), true, `${prefix}: the right password`)
    t.equal(await verifySecret('earlier-releasE', hash), false, `${prefix}: a wrong one`)
  }
})

t.test('unknown user, malformed hash: false, never a throw', async (t) => {
  t.equal(await verifySecret('anything', null), false)
  t.equal(await verifySecret('anything', 'not-a-bcrypt-hash'), false)
  t.equal(await verifySecret('', null), false)
})

async function median (runs: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint()
    await fn()
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)] ?? 0
}

/** Medians of several functions measured in interleaved rounds, so a load spike hits all of them alike. */
async function interleavedMedians (rounds: number, fns: Array<() => Promise<unknown>>): Promise<number[]> {
  const times: number[][] = fns.map(() => [])
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < fns.length; i++) {
      const start = process.hrtime.bigint()
      await fns[i]!()
      times[i]!.push(Number(process.hrtime.bigint() - start) / 1e6)
    }
  }
  return times.map((ts) => ts.sort((a, b) => a - b)[Math.floor(rounds / 2)] ?? 0)
}

t.test('issue 3 §2: an unknown user or an over-long input costs a bcrypt compare of the same cost', async (t) => {
  // Not a speed target: only that the dummy path does comparable work (within a generous factor).
  const cost = 9
  await setDummyCost(cost) // also pre-computes the dummy hash
  const hash = await hashSecret('the real one', cost)
  const [real = 0, unknown = 0, tooLong = 0] = await interleavedMedians(9, [
    async () => await verifySecret('a wrong one', hash),
    async () => await verifySecret('a wrong one', null),
    async () => await verifySecret('x'.repeat(100), hash)
  ])
  t.ok(unknown >= 0.5 * real, `unknown user ${unknown.toFixed(1)} ms vs real compare ${real.toFixed(1)} ms`)
  t.ok(tooLong >= 0.5 * real, `over-long input ${tooLong.toFixed(1)} ms vs real compare ${real.toFixed(1)} ms`)
  // the dummy follows the cost of real hashes: at cost 4 it is far cheaper (32× less work)
  await setDummyCost(4)
  const cheap = await median(5, async () => await verifySecret('a wrong one', null))
  t.ok(cheap < unknown, `dummy at cost 4 (${cheap.toFixed(1)} ms) is cheaper than at cost ${cost} (${unknown.toFixed(1)} ms)`)
})

t.test('the dummy cost follows the most recent hashSecret when setDummyCost was not called after it', async (t) => {
  await setDummyCost(4)
  const cheap = await median(3, async () => await verifySecret('w', null))
  await hashSecret('x', 9)
  await verifySecret('w', null) // creates the cost-9 dummy (cached from the test above, or now)
  const dear = await median(3, async () => await verifySecret('w', null))
  t.ok(dear > cheap * 2, `after hashSecret at cost 9 the dummy costs ${dear.toFixed(1)} ms (cost 4: ${cheap.toFixed(1)} ms)`)
})

// Lever 3 of issue 6: bcrypt runs in worker threads, never on the event loop, behind the same API
// (hashSecret, verifySecret, setDummyCost), and an unknown user still costs one compare.

t.teardown(closePasswordPool)

t.test('hashes and compares are tasks of the worker pool, not of this thread', async (t) => {
  await closePasswordPool()
  configurePasswordPool({ threads: 2 })
  const hash = await hashSecret('correct horse', 4)
  t.equal(await verifySecret('correct horse', hash), true)
  t.equal(await verifySecret('wrong horse', hash), false)
  const stats = passwordPoolStats()
  t.equal(stats.threads, 1, 'one task at a time: one worker thread (an idle gateway holds one isolate, not BCRYPT_THREADS)')
  t.equal(stats.maxThreads, 2)
  t.equal(stats.completed, 3, 'one hash and two compares ran in the pool')
  t.equal(threadId, 0, 'the test itself is the main thread')
  // concurrent tasks start more workers, up to BCRYPT_THREADS
  await Promise.all([hashSecret('a', 8), hashSecret('b', 8), hashSecret('c', 8)])
  t.equal(passwordPoolStats().threads, 2, 'BCRYPT_THREADS worker threads while every one is busy')
})

/** The nice value of every thread of this process. */
const threadNices = (): Map<number, number> => threadStat('self', NICE)
/** The scheduling policy of every thread of this process. */
const threadPolicies = (): Map<number, number> => threadStat('self', POLICY)

t.test('the worker threads run at BCRYPT_NICE, the event loop at its own priority', async (t) => {
  await closePasswordPool()
  configurePasswordPool({ threads: 2, nice: 7 })
  await Promise.all([hashSecret('a', 8), hashSecret('b', 8), hashSecret('c', 8)])
  t.equal(passwordPoolStats().threads, 2, 'both workers started')
  const nices = threadNices()
  t.equal(nices.get(process.pid), 0, 'the main thread (the event loop) keeps nice 0')
  t.equal(countOf(nices, 7), 2, 'each worker thread lowered its own priority to 7')
  await closePasswordPool()
  configurePasswordPool({ threads: 1 })
  await hashSecret('c', 4)
  t.equal([...threadNices().values()].filter((n) => n !== 0).length, 0, 'nice 0 (the default of configurePasswordPool): every thread at normal priority')
  t.throws(() => { configurePasswordPool({ threads: 1, nice: 20 }) }, TypeError, 'nice above 19 refused')
  t.throws(() => { configurePasswordPool({ threads: 1, nice: -1 }) }, TypeError, 'a negative nice (raising priority) refused')
})

t.test('BCRYPT_SCHED_IDLE: each worker thread runs under SCHED_IDLE, the event loop keeps its policy; without chrt, BCRYPT_NICE applies', async (t) => {
  await closePasswordPool()
  configurePasswordPool({ threads: 2, nice: 7, idle: true })
  await Promise.all([hashSecret('a', 8), hashSecret('b', 8), hashSecret('c', 8)])
  t.equal(passwordPoolStats().threads, 2, 'both workers started')
  const policies = threadPolicies()
  t.equal(policies.get(process.pid), 0, 'the main thread (the event loop) keeps SCHED_OTHER')
  t.equal(countOf(policies, SCHED_IDLE), 2, 'each worker thread put itself under SCHED_IDLE')
  t.equal(countOf(threadNices(), 7), 0, 'no thread took the nice value instead')
  await closePasswordPool()
  // a worker's environment is the process's at its start: no chrt on its PATH
  const path = process.env.PATH
  process.env.PATH = ''
  t.teardown(() => { process.env.PATH = path })
  configurePasswordPool({ threads: 1, nice: 7, idle: true })
  t.equal(await verifySecret('x', await hashSecret('x', 4)), true, 'hashing works without chrt')
  process.env.PATH = path
  t.equal(countOf(threadPolicies(), SCHED_IDLE), 0, 'no SCHED_IDLE without chrt')
  t.equal(countOf(threadNices(), 7), 1, 'the worker fell back to BCRYPT_NICE')
  await closePasswordPool()
  configurePasswordPool({ threads: 1 })
})

t.test('BCRYPT_SCHED_IDLE: a worker starved by busy threads of the normal policy goes back to BCRYPT_NICE', async (t) => {
  await closePasswordPool()
  configurePasswordPool({ threads: 1, nice: 7, idle: true })
  await hashSecret('a', 4)
  const worker = [...threadPolicies()].find(([, policy]) => policy === SCHED_IDLE)?.[0]
  if (worker === undefined) throw new Error('no worker under SCHED_IDLE')
  // the worker and a busy loop at nice 5 (weight 335 against SCHED_IDLE's 3) share one CPU
  const cpu = String(cpus().length - 1)
  t.equal(spawnSync('taskset', ['-pc', cpu, String(worker)], { stdio: 'ignore' }).status, 0, 'the worker pinned')
  const hog = spawn('taskset', ['-c', cpu, 'nice', '-n', '5', process.execPath, '-e', 'process.stdout.write("busy"); for (;;) {}'], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => { hog.kill('SIGKILL') })
  await once(hog.stdout, 'data')
  // ~8 ms of CPU, waiting ~110 times that behind the busy loop: starved, far past STARVED_WAIT_RATIO
  t.match(await hashSecret('b', 7), /^\$2b\$07\$/)
  hog.kill('SIGKILL')
  t.equal(threadPolicies().get(worker), SCHED_OTHER, 'the starved worker left SCHED_IDLE')
  t.equal(threadNices().get(worker), 7, 'for BCRYPT_NICE')
  for (let i = 1; i < STARVED_BACK_OFF_TASKS; i++) await hashSecret('c', 4)
  t.equal(threadPolicies().get(worker), SCHED_OTHER, `still at BCRYPT_NICE after ${STARVED_BACK_OFF_TASKS - 1} more tasks`)
  await hashSecret('d', 4)
  t.equal(threadPolicies().get(worker), SCHED_IDLE, `back under SCHED_IDLE after ${STARVED_BACK_OFF_TASKS}`)
  await closePasswordPool()
  configurePasswordPool({ threads: 1 })
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

t.test('a V8 option on the command line (a heap bound) does not stop the workers', async (t) => {
  // a Worker refuses V8 options in an explicit execArgv (ERR_WORKER_INVALID_EXEC_ARGV): before, every
  // login of `node --max-old-space-size=… bin/portcullis.js serve` was a 500
  await closePasswordPool()
  process.execArgv.push('--max-old-space-size=4096')
  t.teardown(() => { process.execArgv.splice(process.execArgv.indexOf('--max-old-space-size=4096'), 1) })
  t.equal(await verifySecret('x', await hashSecret('x', 4)), true, 'from the sources')
  t.equal(passwordPoolStats().completed, 2, 'in the pool')
  // the shipped build (dist/, brought up to date by npm test), started as the image starts it
  const script = `import('${new URL('dist/oauth/passwords.js', ROOT_URL).href}').then(async (p) => {
    p.configurePasswordPool({ threads: 1 }); const ok = await p.verifySecret('x', await p.hashSecret('x', 4))
    console.log(ok, p.passwordPoolStats().completed); await p.closePasswordPool() })`
  const [cmd, args] = nodeChild(['--max-old-space-size=256', '-e', script])
  const run = spawnSync(cmd, args, { encoding: 'utf8' })
  t.equal(run.stdout.trim(), 'true 2', `the compiled build in a worker (stderr: ${run.stderr.slice(0, 300)})`)
})

t.test('misuse is a TypeError', async (t) => {
  t.throws(() => { configurePasswordPool({ threads: 0 }) }, TypeError)
  await t.rejects(hashSecret('x', 3), TypeError)
})
