// Issue 11 item 2 in the two HA modes (standalone: test/integration/redis-acl-tls.test.ts): a Sentinel
// set and a Cluster where every server, replica link, cluster bus and sentinel speaks TLS only (a CA
// made with openssl here), the servers know one ACL user (`default` off) and the sentinels have their
// own password. The store, configured from the environment (redisTargetOf), writes, reads, WAITs for
// a replica and receives its feed; no log line carries a password.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { RedisStore } from '../../src/store/redis/index.js'
import { redisTargetOf, type RedisTarget } from '../../src/store/redis/target.js'
import { startCluster, startSentinel, until } from '../helpers/redis-topology.js'

const PASSWORD = 'acl-pw-2b9e'
const SENTINEL_PASSWORD = 'sentinel-pw-5a1d'
const acl = { username: 'portcullis', password: PASSWORD }

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

t.test('Sentinel with TLS, an ACL user and a sentinel password', async (t) => {
  const set = await startSentinel({ tls: true, acl, sentinelPassword: SENTINEL_PASSWORD })
  t.teardown(() => set.stop())
  const target = redisTargetOf({
    REDIS_SENTINELS: set.seeds, REDIS_SENTINEL_NAME: set.name, REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
    REDIS_USERNAME: acl.username, REDIS_PASSWORD: PASSWORD, REDIS_TLS: '1', REDIS_CA_FILE: set.caFile ?? ''
  })
  if (target === null) throw new Error('no target')
  await exercise(t, target)
})

t.test('Cluster with TLS (cluster bus too) and an ACL user', async (t) => {
  const cluster = await startCluster({ tls: true, acl })
  t.teardown(() => cluster.stop())
  const target = redisTargetOf({ REDIS_CLUSTER_NODES: cluster.seeds, REDIS_USERNAME: acl.username, REDIS_PASSWORD: PASSWORD, REDIS_CA_FILE: cluster.caFile ?? '' })
  if (target === null) throw new Error('no target')
  await exercise(t, target)
})
