// The gateway owns its Redis connections and ends them when it closes: after startGateway(...).close()
// (what SIGTERM runs, src/server.ts handleSignals) the redis-server this test started lists no client
// connection but the test's own observer (CLIENT LIST). Covers the command client and, with
// REVOCATION_MODE=replicated, the revocation feed's subscriber (SECURITY.md F01–F05: the store
// closes with a bounded QUIT, then cuts the socket and stops the reconnect loop).
import t from 'tap'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { loadConfig } from '../../src/config/env.js'
import { startGateway } from '../../src/server.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { writeRoutes } from '../helpers/gateway.js'
import { startRedis } from '../helpers/redis-server.js'

const redis = await startRedis()
t.teardown(() => redis.stop())
const echo = await startEchoUpstream()
t.teardown(() => echo.close())

const observer = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
await observer.connect()
await observer.client('SETNAME', 'observer')
t.teardown(() => { observer.disconnect() })

/** Client connections other than the observer, as redis-server sees them (one line per connection). */
async function gatewayClients (): Promise<string[]> {
  const list = String(await observer.client('LIST'))
  return list.split('\n').filter((line) => line.trim() !== '' && !/ name=observer /.test(line))
}

/** Polls (redis-server notices a closed socket asynchronously) until `done`, at most `tries` times. */
async function settle (done: (clients: string[]) => boolean, tries = 200): Promise<string[]> {
  let clients = await gatewayClients()
  for (let i = 0; i < tries && !done(clients); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    clients = await gatewayClients()
  }
  return clients
}

const routes = writeRoutes(`
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /api/*
    upstream: echo
`)

for (const mode of ['strict', 'replicated'] as const) {
  t.test(`REVOCATION_MODE=${mode}: after the gateway closes, Redis lists none of its connections`, async (t) => {
    const config = loadConfig({
      ROUTES_FILE: routes, REDIS_URL: redis.url, REVOCATION_MODE: mode, PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', BCRYPT_COST: '4', LOG_LEVEL: 'silent'
    })
    const gw = await startGateway(config, { logger: pino({ level: 'silent' }) })
    let status = 0
    for (let i = 0; i < 200 && status !== 200; i++) { // replicated: ready once the feed has synced
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 25))
      const res = await fetch(`${gw.url}/readyz`)
      status = res.status
      await res.arrayBuffer()
    }
    t.equal(status, 200, 'the gateway is ready on Redis')

    const expected = mode === 'replicated' ? 2 : 1 // command client (+ the feed's subscriber)
    const open = await settle((c) => c.length >= expected)
    t.ok(open.length >= expected, `while running, Redis lists the gateway's ${expected} connection(s) (saw ${open.length})`)
    if (mode === 'replicated') t.ok(open.some((line) => / flags=P /.test(line)), 'one of them is the subscriber (flags=P)')

    await gw.close()
    const left = await settle((c) => c.length === 0)
    t.same(left, [], 'no connection from the gateway is left after close')
  })
}
