// Issue 11 item 8, Cluster: a hot key's slot migrated during load. Three gateway processes in Cluster
// mode on a real 3+3 cluster under 200 protected requests per second; the slot holding the user's keys
// (record, disabled flag, revocation cut-off, sessions; not the rate-limit counters, tagged `{n:…}` in
// slots of their own, src/store/redis/keys.ts) is moved by hand to another master, as
// `redis-cli --cluster reshard` does it: CLUSTER SETSLOT IMPORTING / MIGRATING, MIGRATE of its keys
// (the gateways meet ASK redirections meanwhile), then CLUSTER SETSLOT NODE on every master (MOVED
// afterwards). Every answer is a 2xx or a 503 and the 503s end within the migration + 2 s; the upstream
// gets exactly the 2xx; a token revoked before the move stays refused on every instance after it.
import t from 'tap'
import { startCluster } from '../helpers/redis-topology.js'
import { checkAnswers, get, hotSlot, load, mustLogin, revoke, servesAgain, sleep, startFleet } from './harness.js'

const cluster = await startCluster()
t.teardown(() => cluster.stop())
const fleet = await startFleet(t, { REDIS_CLUSTER_NODES: cluster.seeds })

t.test('Cluster: the slot of the user\'s keys migrated to another master under 200 req/s', async (t) => {
  const good = await Promise.all(fleet.gateways.map(async (g) => (await mustLogin(g)).access_token))
  const victim = await mustLogin(fleet.gateways[0]!)
  t.equal(await revoke(fleet.gateways[0]!, victim.refresh_token), 200, 'a token revoked before the move')
  const upstreamBefore = fleet.echo.seen.length
  const traffic = load(fleet, good, () => victim.access_token)
  await sleep(1000)

  const source = await hotSlot(cluster)
  const dest = (await cluster.masters()).find((m) => m.node !== source.master)!
  const slot = String(source.slot)
  const began = Date.now()
  await dest.node.call(['CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id])
  await source.master.call(['CLUSTER', 'SETSLOT', slot, 'MIGRATING', dest.id])
  await sleep(1000) // migrating, its keys still at the source
  let moved = 0
  for (;;) {
    const keys = await source.master.call(['CLUSTER', 'GETKEYSINSLOT', slot, '1']) as string[]
    if (keys.length === 0) break
    // one key at a time, as redis-cli --cluster reshard does in batches
    await source.master.call(['MIGRATE', '127.0.0.1', String(dest.node.port), '', '0', '5000', 'KEYS', ...keys])
    moved += keys.length
  }
  await sleep(1000) // migrating, its keys at the destination: the source answers ASK
  for (const m of await cluster.masters()) await m.node.call(['CLUSTER', 'SETSLOT', slot, 'NODE', dest.id])
  const done = Date.now()
  t.ok(moved > 0, `${moved} key(s) of slot ${slot} moved in ${done - began} ms`)
  await sleep(3000)
  const samples = await traffic.stop()
  checkAnswers(t, fleet, samples, { until: done + 2000, what: `migration of slot ${slot}`, upstreamBefore })
  t.equal(await cluster.masterOfSlot(source.slot), dest.node, 'the slot is served by its new master')
  for (let g = 0; g < fleet.gateways.length; g++) {
    await servesAgain(fleet, g, good[g]!)
    t.equal((await get(fleet, g, '/orders/victim-after', victim.access_token)).status, 401, `instance ${g} still refuses the revoked token`)
    t.equal(fleet.gateways[g]!.child.exitCode, null, `instance ${g} never restarted`)
  }
  t.comment(`${samples.length} requests; 503s: ${samples.filter((s) => s.status === 503).length}`)
})
