// The Redis half of the store epoch (../epoch.ts, SECURITY.md E01-E04): the epoch key is claimed
// with SET NX in one script (scripts.ts claimEpoch), and Redis must never evict keys by itself.
//
// maxmemory-policy: only `noeviction` is accepted. allkeys-* evict records, cut-offs and flags
// (no TTL); volatile-* evict keys with a TTL, which is exactly every revocation marker. Read with
// CONFIG GET; managed Redis often disables CONFIG, then from INFO memory's maxmemory_policy field.
// A store whose policy cannot be read at all is refused too (fail closed). On a Cluster, every master.
//
// High availability (issue 11 item 7, SECURITY.md E06):
// - Lost writes: a promoted replica that lacks writes this instance got acknowledged. Every durable
//   write (durable.ts) also INCRs a write counter on the same master, in the same pipeline, and the
//   instance remembers the highest value it got per counter. Replication keeps a master's order, so a
//   copy holding a counter at that value holds the write before it too. A check that reads a lower
//   value knows the store lost acknowledged writes (its epoch key may well have survived), replaces
//   the epoch (rotateEpoch, compare-and-set) and every older token is refused. One server: one
//   counter, <p>epoch-writes. Cluster: one per master (writeCounter), <p>{<tag>}epoch-writes in a slot
//   that master serves, so its replica holds it as it holds that master's writes. Bounds: it sees the
//   writes this instance made; the writes of others are covered by their own check (all instances
//   then agree on the new epoch). Writes that reach a promoted replica before the check (made at once)
//   may bring a counter back up. A counter whose slot migrates to another master no longer vouches for
//   the writes made before on the first one (later ones get a counter there again).
// - Cluster: one shard that lost its data while the others kept theirs. A copy of the epoch lives in
//   SHARD_EPOCHS keys spread over the slot space (one every SLOT_STEP slots, so on every master);
//   slots migrate with their keys, so a copy goes missing only when its shard lost data. Each check
//   reads them all (one pipeline per master); a missing or different copy after they were all written
//   (<p>{e}epoch-shards names the epoch they were written for) replaces the epoch.
//   Bound: a shard serving fewer than SLOT_STEP contiguous slots may hold no copy.
import { ReplyError, type Redis } from 'ioredis'
import { EpochWatch, newEpoch, type EpochLogger, type EpochSource } from '../epoch.js'
import { bounded, type StoreRedis } from './client.js'
import type { Durability } from './durable.js'
import type { KeyLayout } from './keys.js'
import { calculateSlot, isCluster, masters, mgetAll } from './slots.js'

/** One epoch copy every SLOT_STEP slots (Cluster): 16384 / 64 = 256 keys. */
export const SLOT_STEP = 64

let shardTags: string[] | undefined
/** A hash tag landing in each slot 0, SLOT_STEP, 2·SLOT_STEP, … (found once by trying "0", "1", …). */
export function epochShardTags (): string[] {
  if (shardTags !== undefined) return shardTags
  const want = 16384 / SLOT_STEP
  const found = new Array<string | undefined>(want)
  let left = want
  for (let i = 0; left > 0; i++) {
    const slot = calculateSlot(String(i))
    if (slot % SLOT_STEP === 0 && found[slot / SLOT_STEP] === undefined) {
      found[slot / SLOT_STEP] = String(i)
      left--
    }
  }
  shardTags = found as string[]
  return shardTags
}

const slotTags = new Map<number, string>()
/** A hash tag landing in `slot` (found once per slot by trying "s0", "s1", …). */
function tagInSlot (slot: number): string {
  let tag = slotTags.get(slot)
  for (let i = 0; tag === undefined; i++) if (calculateSlot(`s${i}`) === slot) tag = `s${i}`
  slotTags.set(slot, tag)
  return tag
}

/**
 * The write counter INCR'd with a durable write of `key` (durable.ts), in one pipeline with it: one
 * server, <p>epoch-writes; Cluster, the counter of the master serving `key`, in the slot of one
 * epoch-copy tag (epochShardTags) that master serves (the first found, kept while it serves it), else
 * in the key's own slot. null while the slots are unknown.
 */
export function writeCounter (redis: StoreRedis, k: KeyLayout): (key: string) => string | null {
  if (!isCluster(redis)) return () => k.epochWrites
  const tags = epochShardTags()
  // ioredis sends a pipeline to one node group: the master and its replicas, as CLUSTER SLOTS lists them
  const group = (slot: number): string | undefined => redis.slots[slot]?.join(';')
  const chosen = new Map<string, number>() // group -> index of its counter's tag, while that group serves it
  return (key) => {
    const slot = calculateSlot(key)
    const own = group(slot)
    if (own === undefined) return null
    let i = chosen.get(own)
    if (i === undefined || group(i * SLOT_STEP) !== own) {
      i = tags.findIndex((_tag, j) => group(j * SLOT_STEP) === own)
      if (i < 0) return k.shardWrites(tagInSlot(slot))
      chosen.set(own, i)
    }
    return k.shardWrites(tags[i] as string)
  }
}

export function evictionRiskOf (policy: string): string | null {
  if (policy === 'noeviction') return null
  return `Redis maxmemory-policy is ${policy}: it may evict revocation entries and bring revoked tokens back; set maxmemory-policy noeviction`
}

/**
 * A command refused by the server (renamed, disabled, ACL), not an unreachable one. A connection that
 * is not authenticated (NOAUTH, WRONGPASS: a wrong REDIS_PASSWORD, seen on Cluster nodes) refuses
 * every command: that is an unreachable store (503, not ready), not a Redis that may evict.
 */
function refusal (err: unknown): boolean {
  const cause = (err as Error).cause
  return cause instanceof ReplyError && !/^(NOAUTH|WRONGPASS)\b/.test((cause as Error).message)
}

interface EpochDeps { redis: StoreRedis, k: KeyLayout, timeoutMs: number, logger: EpochLogger, durability: Durability }

function redisEpochSource ({ redis, k, timeoutMs, logger, durability }: EpochDeps): EpochSource {
  let configRefused = false
  let lastClaimed: string | null = null
  async function policyOf (node: Redis | StoreRedis): Promise<string | null> {
    if (!configRefused) {
      try {
        const reply = await bounded('config get', timeoutMs, () => node.config('GET', 'maxmemory-policy') as Promise<string[]>)
        if (typeof reply[1] === 'string') return reply[1]
      } catch (err) {
        if (!refusal(err)) throw err // unreachable: not a refusal
      }
      configRefused = true // renamed or disabled (managed Redis): INFO from now on
    }
    try {
      const info = await bounded('info memory', timeoutMs, () => node.info('memory'))
      return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? null
    } catch (err) {
      if (refusal(err)) return null
      throw err
    }
  }
  /** The replacement under way: checks running side by side (reconnect, node events, the timer) share it and its one log line. */
  let replacing: { from: string, to: Promise<string> } | null = null
  /** Replaces `epoch` (when nobody did yet) because the store lost data; resolves the epoch now held. */
  async function replace (epoch: string, why: string, detail: object): Promise<string> {
    if (replacing?.from !== epoch) {
      logger.error({ store: 'epoch', reason: why, ...detail }, 'the store lost acknowledged data: replacing the store epoch')
      const to = bounded('rotate epoch', timeoutMs, () => redis.rotateEpoch(k.epoch, epoch, newEpoch()))
      replacing = { from: epoch, to }
      to.catch(() => { if (replacing?.to === to) replacing = null }) // not replaced: the next check tries again
    }
    return await replacing.to
  }
  /** A write counter below the value this instance got acknowledged: writes lost (one server, or one Cluster master). */
  async function lostWrites (epoch: string): Promise<string> {
    const acked = [...durability.acked]
    if (acked.length === 0) return epoch
    const counts = await bounded('epoch writes', timeoutMs, () => mgetAll(redis, acked.map(([key]) => key)))
    const i = acked.findIndex(([, n], j) => Number(counts[j] ?? 0) < n)
    if (i < 0) return epoch
    const [counter, n] = acked[i] as [string, number]
    return await replace(epoch, 'store_lost_writes', { acknowledged: n, found: Number(counts[i] ?? 0), counter })
  }
  async function lostShard (epoch: string): Promise<string> {
    const cluster = redis as StoreRedis & { slots: string[][] }
    const tags = epochShardTags()
    const byNode = new Map<string, number[]>()
    tags.forEach((_tag, i) => {
      const node = cluster.slots[i * SLOT_STEP]?.[0] ?? ''
      byNode.set(node, [...byNode.get(node) ?? [], i])
    })
    const values = new Array<string | null>(tags.length).fill(null)
    await Promise.all([...byNode.values()].map(async (idx) => {
      const p = redis.pipeline()
      for (const i of idx) p.get(k.shardEpoch(tags[i] as string))
      const replies = await bounded('epoch shards', timeoutMs, async () => (await p.exec()) ?? [])
      idx.forEach((i, j) => {
        const [err, v] = replies[j] ?? [null, null]
        if (err !== null) throw err
        values[i] = v as string | null
      })
    }))
    const stale = values.flatMap((v, i) => (v === epoch ? [] : [i]))
    if (stale.length === 0) return epoch
    const writtenFor = await bounded('epoch shards', timeoutMs, () => redis.get(k.epochShards))
    if (writtenFor === epoch) return await replace(epoch, 'store_shard_lost', { slot: stale[0] as number * SLOT_STEP, copies_missing: stale.length })
    // first check of this epoch (a new data set, or just replaced): write every copy, then the marker
    await Promise.all(stale.map(async (i) => await bounded('epoch shards', timeoutMs, () => redis.set(k.shardEpoch(tags[i] as string), epoch))))
    await bounded('epoch shards', timeoutMs, () => redis.set(k.epochShards, epoch))
    return epoch
  }
  return {
    claim: async (candidate) => {
      const claimed = await bounded('claim epoch', timeoutMs, () => redis.claimEpoch(k.epoch, candidate))
      if (claimed !== lastClaimed) durability.acked.clear() // a new epoch: earlier counts say nothing about it
      let now = isCluster(redis) ? await lostShard(claimed) : claimed
      if (now === claimed) now = await lostWrites(claimed)
      if (now !== claimed) durability.acked.clear()
      lastClaimed = now
      return now
    },
    evictionRisk: async () => {
      for (const node of masters(redis)) {
        const p = await policyOf(node)
        const risk = p === null ? 'cannot read the Redis maxmemory-policy (CONFIG GET and INFO refused): eviction cannot be ruled out' : evictionRiskOf(p)
        if (risk !== null) return risk
      }
      return null
    }
  }
}

/** Watches the epoch: unconfirmed on every disconnect (a Cluster: of any node), re-checked on every reconnect. */
export function watchRedisEpoch (deps: EpochDeps & { intervalMs?: number | undefined }): EpochWatch {
  const { redis } = deps
  const watch = new EpochWatch({ source: redisEpochSource(deps), logger: deps.logger })
  redis.on('close', () => { watch.invalidate() })
  if (isCluster(redis)) {
    // a node gone (a master killed, its slots moving to a replica): nothing is vouched for until the
    // next check, made at once, has read every shard's copy again
    redis.on('-node', () => { watch.invalidate(); void watch.verify() })
    redis.on('+node', () => { void watch.verify() })
  }
  redis.on('ready', () => { void watch.verify() })
  if (redis.status === 'ready') void watch.verify()
  return watch.start(deps.intervalMs)
}
