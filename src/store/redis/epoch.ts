// The Redis half of the store epoch (../epoch.ts, SECURITY.md E01-E04): the epoch key is claimed
// with SET NX in one script (scripts.ts claimEpoch), and Redis must never evict keys by itself.
//
// maxmemory-policy: only `noeviction` is accepted. allkeys-* evict records, cut-offs and flags
// (no TTL); volatile-* evict keys with a TTL, which is exactly every revocation marker. Read with
// CONFIG GET; managed Redis often disables CONFIG, then from INFO memory's maxmemory_policy field.
// A store whose policy cannot be read at all is refused too (fail closed). On a Cluster, every master.
//
// High availability (issue 11 item 7):
// - Sentinel (and standalone): a promoted replica that lacks writes this instance got acknowledged.
//   Every durable write (durable.ts) also INCRs <p>epoch-writes and remembers the value it got; a
//   check that reads a lower counter knows the store lost acknowledged writes (its epoch key may well
//   have survived), replaces the epoch (rotateEpoch, compare-and-set) and every older token is refused.
//   Bound: it sees the writes this instance made; the writes of others are covered by their own check
//   (all instances then agree on the new epoch).
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
import { calculateSlot, isCluster, masters } from './slots.js'

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

export function evictionRiskOf (policy: string): string | null {
  if (policy === 'noeviction') return null
  return `Redis maxmemory-policy is ${policy}: it may evict revocation entries and bring revoked tokens back; set maxmemory-policy noeviction`
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
        if (!((err as Error).cause instanceof ReplyError)) throw err // unreachable: not a refusal
      }
      configRefused = true // renamed or disabled (managed Redis): INFO from now on
    }
    try {
      const info = await bounded('info memory', timeoutMs, () => node.info('memory'))
      return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? null
    } catch (err) {
      if ((err as Error).cause instanceof ReplyError) return null
      throw err
    }
  }
  /** Replaces `epoch` (when nobody did yet) because the store lost data; resolves the epoch now held. */
  async function replace (epoch: string, why: string, detail: object): Promise<string> {
    logger.error({ store: 'epoch', reason: why, ...detail }, 'the store lost acknowledged data: replacing the store epoch')
    return await bounded('rotate epoch', timeoutMs, () => redis.rotateEpoch(k.epoch, epoch, newEpoch()))
  }
  async function lostWrites (epoch: string): Promise<string> {
    const acked = durability.ackedWrites
    if (acked === 0) return epoch
    const count = Number(await bounded('epoch writes', timeoutMs, () => redis.get(k.epochWrites)) ?? 0)
    if (count >= acked) return epoch
    return await replace(epoch, 'store_lost_writes', { acknowledged: acked, found: count })
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
    const writtenFor = await bounded('epoch shards', timeoutMs, () => redis.get(k.shardEpoch('e') + '-shards'))
    if (writtenFor === epoch) return await replace(epoch, 'store_shard_lost', { slot: stale[0] as number * SLOT_STEP, copies_missing: stale.length })
    // first check of this epoch (a new data set, or just replaced): write every copy, then the marker
    await Promise.all(stale.map(async (i) => await bounded('epoch shards', timeoutMs, () => redis.set(k.shardEpoch(tags[i] as string), epoch))))
    await bounded('epoch shards', timeoutMs, () => redis.set(k.shardEpoch('e') + '-shards', epoch))
    return epoch
  }
  return {
    claim: async (candidate) => {
      const claimed = await bounded('claim epoch', timeoutMs, () => redis.claimEpoch(k.epoch, candidate))
      if (claimed !== lastClaimed) durability.ackedWrites = 0 // a new epoch: earlier counts say nothing about it
      const now = isCluster(redis) ? await lostShard(claimed) : await lostWrites(claimed)
      if (now !== claimed) durability.ackedWrites = 0
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
  if (isCluster(redis)) redis.on('-node', () => { watch.invalidate() }) // a master gone: its shard may come back empty
  redis.on('ready', () => { void watch.verify() })
  if (redis.status === 'ready') void watch.verify()
  return watch.start(deps.intervalMs)
}
