// Loaded into every test file's process by scripts/run-tests.mjs (--import). If the process is still
// running shortly before the runner's timeout, it prints what keeps it alive (sockets with their
// ports, servers, timers, child processes) to stderr, which the runner shows with the failure: a file
// that passes every test but does not exit then names the cause. The timer is unref'd: it never keeps
// a process alive itself.
const at = Number(process.env.PORTCULLIS_TEST_HANDLES_AT_MS ?? 0)

function describe (h) {
  const name = h?.constructor?.name ?? typeof h
  if (typeof h?.remotePort === 'number' || typeof h?.localPort === 'number') return `${name} ${h.localAddress ?? ''}:${h.localPort ?? ''} -> ${h.remoteAddress ?? ''}:${h.remotePort ?? ''}`
  if (typeof h?.address === 'function' && h.listening === true) return `${name} listening ${JSON.stringify(h.address())}`
  if (typeof h?.pid === 'number') return `${name} pid ${h.pid} ${h.spawnfile ?? ''}`
  if (typeof h?._idleTimeout === 'number') return `${name} every/after ${h._idleTimeout} ms (${h._onTimeout?.name || 'anonymous'})`
  return name
}

if (at > 0) {
  setTimeout(() => {
    const handles = process._getActiveHandles().map(describe)
    process.stderr.write(`\n# still running after ${at} ms; what keeps it alive: ${JSON.stringify(process.getActiveResourcesInfo())}\n` +
      handles.map((h) => `#   ${h}\n`).join(''))
  }, at).unref()
}
