// Loaded into every test file's process by scripts/run-tests.mjs (--import). If the process is still
// running shortly before the runner's timeout, it prints what keeps it alive (sockets with their
// ports, servers, child processes, and every timer still armed with where it was created) to stderr,
// which the runner shows with the failure: a file that passes every test but does not exit then
// names the cause. Its own timer is unref'd: it never keeps a process alive itself.
//
// Timers are not handles (process._getActiveHandles() leaves them out), so while the report is
// armed (the runner sets PORTCULLIS_TEST_HANDLES_AT_MS) the global setTimeout and setInterval note
// each timer they make, with its creation stack. Not an async hook: that would also fire for every
// promise of every test (+25-40 % CPU in promise-heavy files); a timer costs one captured stack,
// formatted only in the report.
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

const WHERE = Symbol('created at')
/**
 * Every timer made through the globals and not yet seen destroyed (purged as the set grows; one
 * re-armed by refresh() after it was purged is not reported).
 */
const timers = new Set()
let purgeAt = 4096

function tracked (make) {
  const wrapped = function (...args) {
    const timer = make.apply(this, args)
    const where = {}
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 12
    Error.captureStackTrace(where, wrapped)
    Error.stackTraceLimit = limit
    timer[WHERE] = where
    timers.add(timer)
    if (timers.size >= purgeAt) {
      for (const t of timers) if (t._destroyed === true) timers.delete(t)
      purgeAt = Math.max(4096, 2 * timers.size)
    }
    return timer
  }
  // the same name, length and util.promisify.custom as the original
  Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(make))
  return wrapped
}

function describeTimer (timer) {
  const stack = String(timer[WHERE].stack ?? '').split('\n').slice(1)
    .map((l) => l.trim()).filter((l) => !l.includes('node:internal') && !l.includes('test-handles.mjs')).slice(0, 6)
  const kind = timer._repeat === null ? 'after' : 'every'
  return `Timeout ${kind} ${timer._idleTimeout} ms (${timer._onTimeout?.name || 'anonymous'})\n#       ${stack.join('\n#       ')}`
}

if (at > 0) {
  globalThis.setTimeout = tracked(globalThis.setTimeout)
  globalThis.setInterval = tracked(globalThis.setInterval)
  setTimeout(() => {
    const handles = process._getActiveHandles().map(describe)
    const armed = [...timers].filter((timer) => timer._destroyed !== true && timer.hasRef() === true).map(describeTimer)
    process.stderr.write(`\n# still running after ${at} ms; what keeps it alive: ${JSON.stringify(process.getActiveResourcesInfo())}\n` +
      [...handles, ...armed].map((h) => `#   ${h}\n`).join(''))
  }, at).unref()
}
