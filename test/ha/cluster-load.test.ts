// Issue 11 items 6 and 8, Cluster: three gateway processes in Cluster mode (REDIS_CLUSTER_NODES, the
// default REDIS_MIN_REPLICAS=1) on a real cluster of 3 masters and 3 replicas (cluster-node-timeout
// 2000), 200 protected requests per second spread across them, and the master that holds the user's
// keys killed with SIGKILL; its replica takes over. The failover's end is the moment a surviving node
// reports another master serving that slot, polled here. Checks: test/ha/harness.ts failoverUnderLoad().
import t from 'tap'
import { startCluster, type RedisProcess } from '../helpers/redis-topology.js'
import { failoverUnderLoad, hotSlot, sleep, startFleet } from './harness.js'

const cluster = await startCluster()
t.teardown(() => cluster.stop())
const fleet = await startFleet(t, { REDIS_CLUSTER_NODES: cluster.seeds })

t.test('Cluster: the master of the user\'s keys SIGKILLed under 200 req/s over three instances, its replica promoted', async (t) => {
  let target: { master: RedisProcess, slot: number } | null = null
  await failoverUnderLoad(t, fleet, {
    kill: async () => {
      target = await hotSlot(cluster) // after the logins and the revocation: the user's keys exist
      await target.master.kill()
    },
    failedOver: async () => {
      while (target === null) await sleep(10)
      for (;;) {
        try {
          const now = await cluster.masterOfSlot(target.slot)
          if (now !== target.master) return Date.now()
        } catch { /* the slot has no live master yet */ }
        await sleep(50)
      }
    }
  })
})
