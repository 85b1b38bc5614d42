// Cluster helpers (issue 11 item 3): reads that name keys of several slots are split per slot and
// sent in parallel (ioredis routes each part to the master of its slot), so a multi-key read never
// fails with CROSSSLOT and still costs one round trip of wall time. On one server (standalone,
// Sentinel) every helper is the plain command.
import calculateSlot from 'cluster-key-slot'
import { Cluster, type Redis } from 'ioredis'
import type { StoreRedis } from './client.js'

export { calculateSlot }

export function isCluster (redis: StoreRedis): redis is Cluster & StoreRedis {
  return redis instanceof Cluster
}

/** Keys grouped by slot, each with the indexes it came from. */
export function bySlot (keys: readonly string[]): Map<number, number[]> {
  const groups = new Map<number, number[]>()
  keys.forEach((key, i) => {
    const slot = calculateSlot(key)
    const g = groups.get(slot)
    if (g === undefined) groups.set(slot, [i])
    else g.push(i)
  })
  return groups
}

/** MGET, one per slot in parallel on a Cluster; values in the order of `keys`. */
export async function mgetAll (redis: StoreRedis, keys: readonly string[]): Promise<Array<string | null>> {
  if (!isCluster(redis)) return await redis.mget(keys as string[])
  const out = new Array<string | null>(keys.length).fill(null)
  await Promise.all([...bySlot(keys).values()].map(async (idx) => {
    const values = await redis.mget(idx.map((i) => keys[i] as string))
    idx.forEach((i, j) => { out[i] = values[j] ?? null })
  }))
  return out
}

/** The connections to every master: the one server, or each Cluster master (SCAN, INFO, CONFIG go to each). */
export function masters (redis: StoreRedis): Array<Redis | StoreRedis> {
  return isCluster(redis) ? redis.nodes('master') : [redis]
}

/** `host:port` of the master serving `key` on a Cluster (null before the slots are known); '' on one server. */
export function masterOf (redis: StoreRedis, key: string): string | null {
  if (!isCluster(redis)) return ''
  return redis.slots[calculateSlot(key)]?.[0] ?? null
}

/** `host:port` of a node connection. */
export function nodeKey (node: Redis | StoreRedis): string {
  const o = (node as Redis).options
  return `${o.host ?? ''}:${o.port ?? ''}`
}
