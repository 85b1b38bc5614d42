// Issue 11 items 1-2: the Redis target from the environment (src/store/redis/target.ts): one mode,
// REDIS_MIN_REPLICAS defaults per mode, TLS from any of its three switches, and credentials never in
// what logs and error messages show (describeTarget).
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/env.js'
import { describeTarget, parseHostPorts, redisTargetOf } from '../../src/store/redis/target.js'

t.test('no Redis setting: the memory store (null)', async (t) => {
  t.equal(redisTargetOf({}), null)
  t.equal(redisTargetOf({ REDIS_URL: '' }), null, 'empty counts as unset')
})

t.test('each mode, with its REDIS_MIN_REPLICAS default (1 Sentinel/Cluster, 0 standalone)', async (t) => {
  t.match(redisTargetOf({ REDIS_URL: 'redis://r:6379' }), { mode: 'standalone', url: 'redis://r:6379', minReplicas: 0, tls: false })
  t.match(redisTargetOf({ REDIS_SENTINELS: 'a:26379,[::1]:26380' }), {
    mode: 'sentinel', name: 'mymaster', minReplicas: 1, sentinels: [{ host: 'a', port: 26379 }, { host: '::1', port: 26380 }]
  })
  t.match(redisTargetOf({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'pc', REDIS_SENTINEL_PASSWORD: 'sp' }), { name: 'pc', sentinelPassword: 'sp' })
  t.match(redisTargetOf({ REDIS_CLUSTER_NODES: 'c1:7000' }), { mode: 'cluster', minReplicas: 1 })
  // as the server and the CLI read it: the environment parsed first (no schema default may hide the per-mode one)
  t.same(['REDIS_URL=redis://r:6379', 'REDIS_SENTINELS=a:1', 'REDIS_CLUSTER_NODES=c1:7000'].map((kv) => {
    const [k, v] = kv.split('=') as [string, string]
    return redisTargetOf(loadConfig({ [k]: v }))?.minReplicas
  }), [0, 1, 1], 'standalone 0, Sentinel 1, Cluster 1 through loadConfig')
  t.match(redisTargetOf({ REDIS_CLUSTER_NODES: 'c1:7000,c2:7001', REDIS_MIN_REPLICAS: 2 }), { mode: 'cluster', minReplicas: 2, nodes: [{ host: 'c1', port: 7000 }, { host: 'c2', port: 7001 }] })
  t.match(redisTargetOf({ REDIS_CLUSTER_NODES: 'c1:7000', REDIS_MIN_REPLICAS: 0 }), { minReplicas: 0 }, '0 is honoured')
  t.throws(() => redisTargetOf({ REDIS_URL: 'redis://r', REDIS_CLUSTER_NODES: 'c:1' }), /exactly one/)
  t.throws(() => parseHostPorts('REDIS_SENTINELS', 'a:0'), /REDIS_SENTINELS: "a:0" is not host:port/)
})

t.test('TLS: REDIS_TLS=1, a rediss:// URL, or a CA file; an unreadable CA file is one line', async (t) => {
  t.equal(redisTargetOf({ REDIS_SENTINELS: 'a:1', REDIS_TLS: '1' })?.tls, true)
  t.equal(redisTargetOf({ REDIS_URL: 'rediss://r:6380' })?.tls, true)
  const dir = mkdtempSync(join(tmpdir(), 'pc-ca-'))
  writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n')
  t.match(redisTargetOf({ REDIS_CLUSTER_NODES: 'c:1', REDIS_CA_FILE: join(dir, 'ca.pem') }), { tls: true, ca: /BEGIN CERTIFICATE/ })
  t.throws(() => redisTargetOf({ REDIS_URL: 'redis://r', REDIS_CA_FILE: join(dir, 'missing.pem') }), { message: /^REDIS_CA_FILE: cannot read .*missing\.pem \(ENOENT\)$/ })
})

t.test('describeTarget names mode and addresses, never a credential', async (t) => {
  const secrets = { REDIS_USERNAME: 'gw', REDIS_PASSWORD: 'pw-secret', REDIS_SENTINEL_PASSWORD: 'sentinel-secret' }
  const lines = [
    describeTarget(redisTargetOf({ ...secrets, REDIS_URL: 'redis://u:url-secret@r:6379/0' })!),
    describeTarget(redisTargetOf({ ...secrets, REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_TLS: '1' })!),
    describeTarget(redisTargetOf({ ...secrets, REDIS_CLUSTER_NODES: 'c1:7000' })!)
  ]
  t.same(lines, ['Redis at r:6379', 'Redis Sentinel master "mymaster" via s1:26379,s2:26379 (TLS)', 'Redis Cluster via c1:7000'])
  for (const l of lines) t.notMatch(l, /secret|gw/)
})
