// Starting against Redis (issue 9): the gateway waits for its first connection (at most
// REDIS_TIMEOUT) before it loads the key set, so a healthy Redis gives no "cannot load the signing
// keys" warning; an absent one still does, once (SECURITY.md F01). A real process, its real log.
import t from 'tap'
import { writeRoutes } from '../helpers/gateway.js'
import { freePort, startRedis } from '../helpers/redis-server.js'
import { spawnGateway, type SpawnedGateway } from '../helpers/spawn-gateway.js'

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
