// The gateway's Redis connections: it waits for the first one at start, and ends them all at close.
import t from 'tap'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { writeRoutes } from '../helpers/gateway.js'
import { freePort, startRedis } from '../helpers/redis-server.js'
import { spawnGateway, type SpawnedGateway } from '../helpers/spawn-gateway.js'
import { loadConfig } from '../../src/config/env.js'
import { startGateway } from '../../src/server.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'

// Fixtures of the later sections, set up before any test is defined: tap ends the file's root test
// once it is idle, so no section may still be awaiting its setup when the tests above it finish.
// For the section "The gateway owns its Redis connections and ends them when it…":
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

const closeRoutes = writeRoutes(`
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /api/*
    upstream: echo
`)

// Starting against Redis (issue 9): the gateway waits for its first connection (at most
// REDIS_TIMEOUT) before it loads the key set, so a healthy Redis gives no "cannot load the signing
// keys" warning; an absent one still does, once (SECURITY.md F01). A real process, its real log.

t.setTimeout(180_000) // two real gateways and a redis-server, on a loaded machine

const routes = writeRoutes(`
version: 1
upstreams:
  u: { url: http://127.0.0.1:9 }
routes:
  - { path: /api/*, upstream: u }
`)

interface LogLine { level: number, msg: string, reason?: string, ready?: boolean }

/** The JSON log lines printed so far. */
function logLines (gw: SpawnedGateway): LogLine[] {
  return gw.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine)
}

async function stop (gw: SpawnedGateway): Promise<void> {
  if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGTERM')
  await gw.exited
}

t.test('a healthy Redis: keys loaded before listening, no warning at all', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  // a generous REDIS_TIMEOUT: the wait ends at the first connect, not at the timeout
  const gw = await spawnGateway(['serve'], { ROUTES_FILE: routes, REDIS_URL: redis.url, REDIS_TIMEOUT: '10', LOG_LEVEL: 'info', BCRYPT_COST: '4' })
  t.teardown(() => stop(gw))
  const lines = logLines(gw)
  const listening = lines.find((l) => l.msg === 'portcullis listening')
  t.equal(listening?.ready, true, 'the key set is loaded when the gateway listens')
  t.same(lines.filter((l) => l.level >= 40).map((l) => l.msg), [], 'no warning or error in the start-up log')
  t.notOk(lines.some((l) => l.reason === 'keys_not_loaded'), 'no "cannot load the signing keys" line')
  t.equal((await fetch(`${gw.url}/readyz`)).status, 200)
})

t.test('an absent Redis: the gateway still starts, and says once that the keys are not loaded', async (t) => {
  const gw = await spawnGateway(['serve'], { ROUTES_FILE: routes, REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_TIMEOUT: '1', LOG_LEVEL: 'info' })
  t.teardown(() => stop(gw))
  const lines = logLines(gw)
  t.equal(lines.find((l) => l.msg === 'portcullis listening')?.ready, false)
  t.equal(lines.filter((l) => l.reason === 'keys_not_loaded').length, 1)
})

// The gateway owns its Redis connections and ends them when it closes: after startGateway(...).close()
// (what SIGTERM runs, src/server.ts handleSignals) the redis-server this test started lists no client
// connection but the test's own observer (CLIENT LIST). Covers the command client and, with
// REVOCATION_MODE=replicated, the revocation feed's subscriber (SECURITY.md F01–F05: the store
// closes with a bounded QUIT, then cuts the socket and stops the reconnect loop).
// Its fixtures are set up at the top of this file.

for (const mode of ['strict', 'replicated'] as const) {
  t.test(`REVOCATION_MODE=${mode}: after the gateway closes, Redis lists none of its connections`, async (t) => {
    const config = loadConfig({
      ROUTES_FILE: closeRoutes, REDIS_URL: redis.url, REVOCATION_MODE: mode, PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', BCRYPT_COST: '4', LOG_LEVEL: 'silent'
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
    // the subscriber may connect before its SUBSCRIBE is processed (flags=N, then P): wait for both
    const subscribed = (c: string[]): boolean => mode !== 'replicated' || c.some((line) => / flags=P /.test(line))
    const open = await settle((c) => c.length >= expected && subscribed(c))
    t.ok(open.length >= expected, `while running, Redis lists the gateway's ${expected} connection(s) (saw ${open.length})`)
    if (mode === 'replicated') t.ok(open.some((line) => / flags=P /.test(line)), 'one of them is the subscriber (flags=P)')

    await gw.close()
    const left = await settle((c) => c.length === 0)
    t.same(left, [], 'no connection from the gateway is left after close')
  })
}
