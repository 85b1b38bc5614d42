// A Redis store closed while Redis is unreachable leaves nothing armed, so its process ends at once
// (the CLI with Redis down, a gateway stopping). ioredis's disconnect() ends the socket and arms a
// timer that destroys it unless it closes first; for a socket that had already closed (a refused
// connection) that timer ran its full default of 2 s (client.ts DISCONNECT_TIMEOUT_MS). A process
// of its own, the built store as `serve` loads it, says whether anything is still armed a second
// after close(); the port is one nothing listens on (no server is touched).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { nodeChild } from '../helpers/node-child.js'
import { freePort } from '../helpers/redis-server.js'
import { ROOT_URL } from '../helpers/root.js'

const CHILD = `
import { RedisStore } from ${JSON.stringify(new URL('dist/store/redis/index.js', ROOT_URL).href)}
const store = new RedisStore({ target: { mode: 'standalone', url: process.env.URL, tls: false, minReplicas: 0 }, timeoutMs: 1000, prefix: 'closing:' })
const ready = await store.ready(300) // refused, again and again: each attempt's socket closed
await store.close()
process.stdout.write(ready ? 'ready\\n' : 'not ready\\n')
setTimeout(() => { process.stdout.write('alive 1 s after close: ' + JSON.stringify(process.getActiveResourcesInfo()) + '\\n') }, 1000).unref()
`

t.test('a store closed while Redis refuses connections: nothing left armed, the process ends', async (t) => {
  const url = `redis://127.0.0.1:${await freePort()}`
  const child = spawn(...nodeChild(['--input-type=module', '-e', CHILD]), { env: { URL: url }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += String(d) })
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(out, 'not ready\n', 'not ready (nothing listens), and nothing armed a second after close')
  t.equal(code, 0, 'the process ends by itself')
})
