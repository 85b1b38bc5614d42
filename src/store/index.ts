// Picks the store: Redis when one is configured (standalone, Sentinel or Cluster: production, shared
// by every instance), otherwise the in-process memory store (dev mode, single instance).

import { MemoryStore } from './memory/index.js'
import { RedisStore, type StoreLogger } from './redis/index.js'
import type { Store, StoreObserver } from './types.js'
import type { RedisTarget } from './redis/target.js'

export * from './types.js'
export { MemoryStore, type MemoryStoreOptions } from './memory/index.js'
export { RedisStore, type RedisStoreOptions, type StoreLogger } from './redis/index.js'
export { describeTarget, redisTargetOf, type RedisTarget } from './redis/target.js'

export interface CreateStoreOptions {
  /** redis:// or rediss:// URL; absent means the memory store. */
  redisUrl?: string | undefined
  /** Standalone, Sentinel or Cluster (redisTargetOf(config)); wins over redisUrl. Null/absent with no URL: memory. */
  redis?: RedisTarget | null | undefined
  /** Redis connect and command timeout in ms: the bound on every store call. */
  timeoutMs: number
  logger?: StoreLogger | undefined
  /** Redis key prefix; default `portcullis:`. */
  prefix?: string | undefined
  /** Times every Redis command (metrics); the memory store has none to time. */
  observer?: StoreObserver | undefined
}

export function createStore (opts: CreateStoreOptions): Store {
  const target = opts.redis ?? (opts.redisUrl === undefined || opts.redisUrl === '' ? null : { mode: 'standalone' as const, url: opts.redisUrl, tls: false, minReplicas: 0 })
  if (target === null) return new MemoryStore()
  return new RedisStore({
    target,
    timeoutMs: opts.timeoutMs,
    ...(opts.logger !== undefined && { logger: opts.logger }),
    ...(opts.prefix !== undefined && { prefix: opts.prefix }),
    ...(opts.observer !== undefined && { observer: opts.observer })
  })
}
