// A Redis store closed while Redis is unreachable leaves nothing armed, so its process ends at once
// (the CLI with Redis down, a gateway stopping). ioredis's disconnect() ends the socket and arms a
// timer that destroys it unless it closes first; for a socket that had already closed (a refused
// connection) that timer ran its full default of 2 s (client.ts DISCONNECT_TIMEOUT_MS). A process
// of its own (store-child.ts) says whether anything is still armed a second after close(); the port
// is one nothing listens on (no server is touched).
import t from 'tap'
import { freePort } from '../helpers/redis-server.js'
import { openAndCloseScript, startStoreChild } from '../helpers/store-child.js'

t.test('a store closed while Redis refuses connections: nothing left armed, the process ends', async (t) => {
  const url = `redis://127.0.0.1:${await freePort()}`
  // refused, again and again, during ready(): each attempt's socket closed before close()
  const run = startStoreChild(openAndCloseScript({ timeoutMs: 1000, readyMs: 300 }), { mode: 'standalone', url, tls: false, minReplicas: 0 })
  t.teardown(() => { run.child.kill('SIGKILL') })
  const code = await run.exited
  t.equal(run.out(), 'not ready\n', 'not ready (nothing listens), and nothing armed a second after close')
  t.equal(code, 0, 'the process ends by itself')
})
