// Issue 11 item 1: the CLI reads the same variables as the gateway. `users add` / `users list --json`
// through REDIS_SENTINELS and through REDIS_CLUSTER_NODES (the real binary, real topologies), and two
// modes at once is one line on stderr, exit 1, for the CLI and for `serve`.
import t from 'tap'
import { runCli } from '../fixtures/run-cli.js'
import { startCluster, startSentinel } from '../helpers/redis-topology.js'

t.test('two Redis modes at once: one line, exit 1 (serve and the CLI)', async (t) => {
  const env = { REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: '127.0.0.1:2' }
  for (const args of [['serve'], ['users', 'list']]) {
    const r = await runCli(args, { env })
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`)
    t.match(r.stderr, /^portcullis: .*set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES \(found REDIS_URL, REDIS_CLUSTER_NODES\)\n$/)
  }
})

t.test('users add and list through the sentinels and through the cluster', async (t) => {
  const [set, cluster] = await Promise.all([startSentinel(), startCluster()])
  t.teardown(async () => { await Promise.all([set.stop(), cluster.stop()]) })
  for (const env of [{ REDIS_SENTINELS: set.seeds, REDIS_SENTINEL_NAME: set.name }, { REDIS_CLUSTER_NODES: cluster.seeds }]) {
    const mode = Object.keys(env)[0] ?? ''
    const add = await runCli(['users', 'add', 'alice', '--scopes', 'read'], { env, stdin: 'correct horse battery\n' })
    t.equal(add.code, 0, `${mode}: users add (${add.stderr.trim()})`)
    const list = await runCli(['users', 'list', '--json'], { env })
    t.equal(list.code, 0, `${mode}: users list`)
    t.match(JSON.parse(list.stdout), [{ name: 'alice', scopes: ['read'], disabled: false }])
  }
})
