// Loaded into every test file's process by scripts/run-tests.mjs (--import). If the process is still
// running shortly before the runner's timeout, it prints what keeps it alive (sockets with their
// ports, servers, child processes, and every timer still armed with where it was created) to stderr,
// which the runner shows with the failure: a file that passes every test but does not exit then
// names the cause. Its own timer is unref'd: it never keeps a process alive itself.
//
// Timers are not handles (process._getActiveHandles() leaves them out), so an async hook keeps each
// live Timeout with a short creation stack; only when the report is armed (the runner sets
// PORTCULLIS_TEST_HANDLES_AT_MS), and the stack is captured lazily (Error.captureStackTrace on an
// object whose .stack is read only in the report).
import { createHook } from 'node:async_hooks'

const at = Number(process.env.PORTCULLIS_TEST_HANDLES_AT_MS ?? 0)

function describe (h) {
  const name = h?.constructor?.name ?? typeof h
  if (typeof h?.remotePort === 'number' || typeof h?.localPort === 'number') return `${name} ${h.localAddress ?? ''}:${h.localPort ?? ''} -> ${h.remoteAddress ?? ''}:${h.remotePort ?? ''}`
  if (typeof h?.address === 'function' && h.listening === true) return `${name} listening ${JSON.stringify(h.address())}`
  if (typeof h?.pid === 'number') return `${name} pid ${h.pid} ${h.spawnfile ?? ''}`
  if (h === process.stdout) return `${name} (stdout)`
  if (h === process.stderr) return `${name} (stderr)`
  return name
}

/** asyncId -> { timer, where } for every Timeout not yet destroyed. */
const timers = new Map()

function describeTimer ({ timer, where }) {
  const stack = String(where.stack ?? '').split('\n').slice(1)
    .map((l) => l.trim()).filter((l) => !l.includes('node:internal') && !l.includes('test-handles.mjs')).slice(0, 6)
  const kind = timer._repeat === null ? 'after' : 'every'
  return `Timeout ${kind} ${timer._idleTimeout} ms (${timer._onTimeout?.name || 'anonymous'})\n#       ${stack.join('\n#       ')}`
}

if (at > 0) {
  Error.stackTraceLimit = Math.max(Error.stackTraceLimit, 12)
  createHook({
    init (asyncId, type, _trigger, resource) {
      if (type !== 'Timeout') return
      const where = {}
      Error.captureStackTrace(where)
      timers.set(asyncId, { timer: resource, where })
    },
    destroy (asyncId) { timers.delete(asyncId) }
  }).enable()
  setTimeout(() => {
    const handles = process._getActiveHandles().map(describe)
    const armed = [...timers.values()].filter(({ timer }) => timer._destroyed !== true && timer.hasRef?.() === true).map(describeTimer)
    process.stderr.write(`\n# still running after ${at} ms; what keeps it alive: ${JSON.stringify(process.getActiveResourcesInfo())}\n` +
      [...handles, ...armed].map((h) => `#   ${h}\n`).join(''))
  }, at).unref()
}
