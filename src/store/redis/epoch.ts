// The Redis half of the store epoch (../epoch.ts, SECURITY.md E01-E04): the epoch key is claimed
// with SET NX in one script (scripts.ts claimEpoch), and Redis must never evict keys by itself.
//
// maxmemory-policy: only `noeviction` is accepted. allkeys-* evict records, cut-offs and flags
// (no TTL); volatile-* evict keys with a TTL, which is exactly every revocation marker. Read with
// CONFIG GET; managed Redis often disables CONFIG, then from INFO memory's maxmemory_policy field.
// A store whose policy cannot be read at all is refused too (fail closed).
import { ReplyError } from 'ioredis'
import { EpochWatch, type EpochLogger, type EpochSource } from '../epoch.js'
import { bounded, type StoreRedis } from './client.js'

export function evictionRiskOf (policy: string): string | null {
  if (policy === 'noeviction') return null
  return `Redis maxmemory-policy is ${policy}: it may evict revocation entries and bring revoked tokens back; set maxmemory-policy noeviction`
}

function redisEpochSource (redis: StoreRedis, key: string, timeoutMs: number): EpochSource {
  let configRefused = false
  async function policy (): Promise<string | null> {
    if (!configRefused) {
      try {
        const reply = await bounded('config get', timeoutMs, () => redis.config('GET', 'maxmemory-policy') as Promise<string[]>)
        if (typeof reply[1] === 'string') return reply[1]
      } catch (err) {
        if (!((err as Error).cause instanceof ReplyError)) throw err // unreachable: not a refusal
      }
      configRefused = true // renamed or disabled (managed Redis): INFO from now on
    }
    try {
      const info = await bounded('info memory', timeoutMs, () => redis.info('memory'))
      return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? null
    } catch (err) {
      if ((err as Error).cause instanceof ReplyError) return null
      throw err
    }
  }
  return {
    claim: async (candidate) => await bounded('claim epoch', timeoutMs, () => redis.claimEpoch(key, candidate)),
    evictionRisk: async () => {
      const p = await policy()
      return p === null ? 'cannot read the Redis maxmemory-policy (CONFIG GET and INFO refused): eviction cannot be ruled out' : evictionRiskOf(p)
    }
  }
}

/** Watches the epoch of `redis`: unconfirmed on every disconnect, re-checked on every reconnect. */
export function watchRedisEpoch (redis: StoreRedis, key: string, opts: { timeoutMs: number, logger: EpochLogger, intervalMs?: number | undefined }): EpochWatch {
  const watch = new EpochWatch({ source: redisEpochSource(redis, key, opts.timeoutMs), logger: opts.logger })
  redis.on('close', () => { watch.invalidate() })
  redis.on('ready', () => { void watch.verify() })
  if (redis.status === 'ready') void watch.verify()
  return watch.start(opts.intervalMs)
}
