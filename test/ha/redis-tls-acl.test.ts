// Issue 11 item 2 in the two HA modes (standalone: test/integration/redis-acl-tls.test.ts): a Sentinel
// set and a Cluster where every server, replica link, cluster bus and sentinel speaks TLS only (a CA
// made with openssl here), the servers know one ACL user (`default` off) and the sentinels have their
// own password. The store, configured from the environment (redisTargetOf), writes, reads, WAITs for
// a replica and receives its feed; no log line carries a password. Then real gateway processes
// (`portcullis serve`, LOG_LEVEL=debug): with a wrong REDIS_PASSWORD (and, for Sentinel, a wrong
// REDIS_SENTINEL_PASSWORD) not ready (/readyz 503), with the right ones ready; no password, wrong or
// right, in anything they print, and every Redis error in their structured log (no raw ioredis line).
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { RedisStore } from '../../src/store/redis/index.js'
import { redisTargetOf, type RedisTarget } from '../../src/store/redis/target.js'
import { writeRoutes } from '../helpers/gateway.js'
import { startCluster, startSentinel, until } from '../helpers/redis-topology.js'
import { spawnGateway } from '../helpers/spawn-gateway.js'
import { ready } from './harness.js'

const PASSWORD = 'acl-pw-2b9e'
const SENTINEL_PASSWORD = 'sentinel-pw-5a1d'
const acl = { username: 'portcullis', password: PASSWORD }
const WRONG = 'wrong-pw-c47e'
const WRONG_SENTINEL = 'wrong-sentinel-pw-8d06'
const SECRETS = [PASSWORD, SENTINEL_PASSWORD, WRONG, WRONG_SENTINEL]
const routes = writeRoutes('version: 1\nupstreams:\n  up: { url: http://127.0.0.1:9, timeout: 1s }\nroutes:\n  - { path: /x, upstream: up, auth: none }\n')

async function exercise (t: Test, target: RedisTarget): Promise<void> {
  const lines: object[] = []
  const log = { info (o: object) { lines.push(o) }, warn (o: object) { lines.push(o) }, error (o: object) { lines.push(o) } }
  const store = new RedisStore({ target, timeoutMs: 2000, prefix: `t-${randomUUID()}:`, logger: log })
  t.teardown(() => store.close())
  t.equal(await store.ready(15_000), true, 'ready over TLS with the ACL user')
  let ups = 0
  const events: unknown[] = []
  const feed = store.subscribeRevocations({ event: (e) => { events.push(e) }, up: () => { ups++ }, down: () => {} })
  t.teardown(() => feed.close())
  await until('feed up', async () => ups === 1)
  await store.revokeToken('j', Math.floor(Date.now() / 1000) + 600) // WAIT 1: a replica has it
  t.equal((await store.checkRevocation({ jti: 'j', sub: 'u', clientId: 'c' })).tokenRevoked, true)
  await until('event', async () => events.length === 1)
  const all = JSON.stringify(lines)
  t.notOk(all.includes(PASSWORD) || all.includes(SENTINEL_PASSWORD), 'no log line carries a password')
}

/**
 * Issue 11 item 2 through a real gateway process: refused with each wrong set of credentials (what
 * it logged about the refusal matches `refusal`), ready with the right ones; no password in its output.
 */
async function gateways (t: Test, env: Record<string, string>, wrong: Array<{ what: string, env: Record<string, string>, refusal: RegExp }>): Promise<void> {
  const spawn = async (extra: Record<string, string>): Promise<Awaited<ReturnType<typeof spawnGateway>>> => {
    const g = await spawnGateway(['serve'], { ROUTES_FILE: routes, REDIS_TIMEOUT: '1', LOG_LEVEL: 'debug', ...env, ...extra })
    t.teardown(async () => { if (g.child.exitCode === null) g.child.kill('SIGKILL'); await g.exited })
    return g
  }
  const leaked = (out: string): string[] => SECRETS.filter((s) => out.includes(s))
  const refused: Array<{ what: string, output: () => string }> = []
  for (const w of wrong) {
    const g = await spawn(w.env)
    refused.push({ what: w.what, output: g.output })
    await until(`the refusal logged (${w.what})`, async () => w.refusal.test(g.output()))
      .catch((err: Error) => { throw new Error(`${err.message}; its output:\n${g.output().slice(-3000)}`) })
    t.equal((await fetch(`${g.url}/readyz`)).status, 503, `${w.what}: not ready`)
    t.same(leaked(g.output()), [], `${w.what}: no password, wrong or right, in its output`)
  }
  const g = await spawn({})
  await ready(g)
  t.pass('the right credentials: ready (/readyz 200)')
  t.same(leaked(g.output()), [], 'the right credentials: no password in its output')
  // checked last: the refused gateways have kept reconnecting meanwhile (Sentinel: each retry
  // replaces ioredis's failover-detector connections to the sentinels, closed mid-TLS-handshake)
  for (const r of [...refused, { what: 'the right credentials', output: g.output }]) {
    t.same(r.output().split('\n').filter((l) => l.includes('Unhandled error event')).slice(0, 3), [],
      `${r.what}: every Redis error goes through the store's log (no raw ioredis "Unhandled error event" line)`)
  }
}

t.test('Sentinel with TLS, an ACL user and a sentinel password', async (t) => {
  const set = await startSentinel({ tls: true, acl, sentinelPassword: SENTINEL_PASSWORD })
  t.teardown(() => set.stop())
  const env = {
    REDIS_SENTINELS: set.seeds, REDIS_SENTINEL_NAME: set.name, REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
    REDIS_USERNAME: acl.username, REDIS_PASSWORD: PASSWORD, REDIS_TLS: '1', REDIS_CA_FILE: set.caFile ?? ''
  }
  const target = redisTargetOf(env)
  if (target === null) throw new Error('no target')
  await exercise(t, target)
  await gateways(t, env, [
    { what: 'wrong REDIS_PASSWORD', env: { REDIS_PASSWORD: WRONG }, refusal: /WRONGPASS.*"msg":"redis unavailable"/ },
    { what: 'wrong REDIS_SENTINEL_PASSWORD and REDIS_PASSWORD', env: { REDIS_PASSWORD: WRONG, REDIS_SENTINEL_PASSWORD: WRONG_SENTINEL }, refusal: /redis unavailable/ }
  ])
})

t.test('Cluster with TLS (cluster bus too) and an ACL user', async (t) => {
  const cluster = await startCluster({ tls: true, acl })
  t.teardown(() => cluster.stop())
  const env = { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_USERNAME: acl.username, REDIS_PASSWORD: PASSWORD, REDIS_CA_FILE: cluster.caFile ?? '' }
  const target = redisTargetOf(env)
  if (target === null) throw new Error('no target')
  await exercise(t, target)
  await gateways(t, env, [{ what: 'wrong REDIS_PASSWORD', env: { REDIS_PASSWORD: WRONG }, refusal: /redis unavailable/ }])
})
