// Phase (a)'s control (bench/run.ts BENCH_LOGIN_CONTROL=hash-load): the hashing of RATE logins/s at
// cost COST, done by this separate process at nice 19 in THREADS worker threads for SECONDS, with no
// login and no gateway involved. What it costs the proxied p99 is what the hashing costs the machine,
// whatever the gateway does around it (bench/README.md "Native bcrypt").
// It starts, warms every worker, prints `ready`, and hashes only from SIGUSR2 on, so its own start-up
// (node, tsx, the workers) is not counted against the run it is compared with.
// Usage: nice -n 19 npx tsx bench/hash-load.ts RATE SECONDS [THREADS=2] [COST=10]
import bcrypt from 'bcrypt'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

// plain JavaScript workers: no TypeScript loader needed in them
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const bcrypt = require(workerData.lib)
parentPort.on('message', () => { bcrypt.compareSync('bench-password-0123', workerData.hash); parentPort.postMessage(0) })
`

{
  const [rate = 20, seconds = 5, threads = 2, cost = 10] = process.argv.slice(2).map(Number)
  const hash = bcrypt.hashSync('bench-password-0123', cost)
  const workers = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true, workerData: { hash, lib: createRequire(import.meta.url).resolve('bcrypt') } }))
  // one shared schedule, as the login wrk's: a compare every 1/rate s, to whichever worker is free
  const free: Worker[] = []
  await Promise.all(workers.map(async (w) => await new Promise<void>((resolve) => { w.once('message', () => { free.push(w); resolve() }); w.postMessage(0) })))
  let due = 0; let done = 0
  for (const w of workers) w.on('message', () => { done++; free.push(w) })
  process.stdout.write('ready\n')
  await new Promise<void>((resolve) => { process.once('SIGUSR2', () => { resolve() }) })
  const start = performance.now()
  const tick = setInterval(() => {
    const elapsed = (performance.now() - start) / 1000
    if (elapsed >= seconds) {
      clearInterval(tick)
      process.stdout.write(`hash-load: ${done} compares in ${elapsed.toFixed(1)} s (${due} due)\n`)
      for (const w of workers) void w.terminate()
      return
    }
    while (due < Math.floor(elapsed * rate)) {
      const w = free.shift()
      if (w === undefined) break
      due++
      w.postMessage(0)
    }
  }, 5)
}
