// The ioredis connection and the one wrapper every Redis call goes through.
//
// Failure policy (SECURITY.md F01-F05): a dead or frozen Redis fails fast and
// never hangs a request. No offline queue (commands while disconnected reject at once), no
// re-sending of sent commands (a replayed consume would report a false reuse), a command
// timeout, and a reconnect loop that never gives up so the store heals by itself. Every
// failure reaches the caller as StoreUnavailableError with the ioredis error as `cause`.

import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { StoreUnavailableError, type StoreObserver } from '../types.js'
import { scripts, type ScriptCommands } from './scripts.js'
import { describeTarget, type RedisTarget } from './target.js'

export interface StoreLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** The command client: one connection (standalone, Sentinel) or a Cluster client, with the scripts as methods. */
export type StoreRedis = (Redis | Cluster) & ScriptCommands

const ERROR_LOG_EVERY_MS = 5000
/** Our own bound above commandTimeout, for paths ioredis does not time (e.g. NOSCRIPT then EVAL). */
const GUARD_GRACE_MS = 100
/** Reconnect forever, capped backoff. */
const retry = (times: number): number => Math.min(times * 100, 1000)
/**
 * ioredis's disconnect() ends the socket and arms a timer that destroys it if it has not closed
 * within this; the timer is cleared on 'close', so for a socket that had already closed (a dead
 * node's) it runs out in full (2 s by default) and kept a finished CLI command alive that long
 * (test/faults/store-close.test.ts).
 */
const DISCONNECT_TIMEOUT_MS = 100
/** A Cluster client asks for the slot map this often: a failover or a slot migration is seen within it. */
export const SLOTS_REFRESH_MS = 1000

/**
 * The options of every connection to a Redis server (command client, feed subscriber, each Cluster
 * node): fail fast, never queue, never replay (SECURITY.md F01-F05), ACL credentials and TLS.
 */
export function serverOptions (target: RedisTarget, timeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false, // disconnected: reject now, never queue (SECURITY.md F01-F05)
    maxRetriesPerRequest: 0, // a command cut off by a disconnect fails at once
    autoResendUnfulfilledCommands: false, // never replay a consume or an INCR after reconnect
    commandTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    retryStrategy: retry,
    lazyConnect: false,
    ...(target.username !== undefined && { username: target.username }),
    ...(target.password !== undefined && { password: target.password }),
    ...(target.tls && { tls: target.ca === undefined ? {} : { ca: target.ca } })
  }
}

/** Cluster-wide options: slots refreshed within the command timeout, MOVED/ASK followed, no queue. */
export function clusterOptions (target: RedisTarget, timeoutMs: number, extra: Partial<ClusterOptions> = {}): ClusterOptions {
  const { retryStrategy: _perNode, ...redisOptions } = serverOptions(target, timeoutMs)
  return {
    enableOfflineQueue: false,
    scaleReads: 'master', // revocation state is read where it is written: never a lagging replica
    clusterRetryStrategy: retry,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: timeoutMs,
    slotsRefreshInterval: 0, // ours instead (refreshSlotsEvery): ioredis's outlives disconnect()
    // ioredis's ready check (CLUSTER INFO) goes to any node of the pool, also one whose connection
    // has just closed (a dead seed right after a failover): "Connection is closed.", then a full
    // reconnect, again and again, so a CLI command found no answer within REDIS_TIMEOUT
    // (test/ha/cluster-close.test.ts). The store's own check counts: ready() PINGs and verifies the
    // epoch on every master.
    enableReadyCheck: false,
    redisOptions,
    ...extra
  }
}

export interface ConnectionExtra {
  cluster?: Partial<ClusterOptions>
  server?: RedisOptions
  /** Sentinel: errors of ioredis's own connections to the sentinels (watchSentinelConnections); default: dropped. */
  sentinelError?: (err: Error) => void
}

/** A connection to the target: a plain client (standalone), one that asks the sentinels for the master, or a Cluster client. */
export function openConnection (target: RedisTarget, timeoutMs: number, extra: ConnectionExtra = {}): Redis | Cluster {
  const server = { ...serverOptions(target, timeoutMs), ...extra.server }
  switch (target.mode) {
    case 'standalone': return new Redis(urlWithoutCredentials(target), server)
    case 'sentinel': return watchSentinelConnections(new Redis({
      ...server,
      sentinels: target.sentinels,
      name: target.name,
      role: 'master',
      ...(target.sentinelPassword !== undefined && { sentinelPassword: target.sentinelPassword }),
      ...(target.tls && { enableTLSForSentinelMode: true, sentinelTLS: target.ca === undefined ? {} : { ca: target.ca } }),
      sentinelCommandTimeout: timeoutMs,
      sentinelRetryStrategy: retry,
      failoverDetector: true, // +switch-master from the sentinels: reconnect to the new master at once
      // a demoted master answers READONLY: reconnect through the sentinels (never resend the command)
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 1 : false)
    }), extra.sentinelError ?? (() => {}))
    case 'cluster': return refreshSlotsEvery(new Cluster(target.nodes, clusterOptions(target, timeoutMs, extra.cluster)), SLOTS_REFRESH_MS)
  }
}

/**
 * The slot map refreshed every `ms` by a timer of ours, not ioredis's slotsRefreshInterval: ioredis
 * 6.0.0 arms its next round from the callback of the refresh in flight, also after disconnect(), so
 * a Cluster client closed mid-refresh (a node down or frozen) went on refreshing an empty pool every
 * second for ever and kept the process alive (test/ha/cluster-close.test.ts).
 * Ours is unref'd and stops when the client ends; ioredis folds overlapping refreshes into one.
 */
function refreshSlotsEvery (cluster: Cluster, ms: number): Cluster {
  const timer = setInterval(() => { if (cluster.status === 'ready') cluster.refreshSlotsCache() }, ms).unref()
  cluster.once('end', () => { clearInterval(timer) })
  return cluster
}

/** ioredis lets a URL's credentials win over the options: REDIS_USERNAME / REDIS_PASSWORD win instead. */
function urlWithoutCredentials (target: RedisTarget & { mode: 'standalone' }): string {
  if (target.username === undefined && target.password === undefined) return target.url
  try {
    const u = new URL(target.url)
    if (target.username !== undefined) u.username = ''
    if (target.password !== undefined) u.password = ''
    return u.toString()
  } catch {
    return target.url
  }
}

/**
 * ioredis's SentinelConnector opens connections of its own to the sentinels: one per master lookup
 * (it listens to their errors) and, with failoverDetector, one per sentinel subscribed to
 * +switch-master, replaced at every (re)connect of the client, with no 'error' listener: ioredis
 * printed each of their errors raw on stderr ("[ioredis] Unhandled error event"), outside the log.
 * With a wrong REDIS_PASSWORD over TLS the client reconnects every second or so and each time
 * closes the previous ones mid-handshake: a TLS alert per sentinel per retry. Each gets a listener
 * here: the errors of one being closed on purpose are dropped (the client's own error says why it
 * reconnects), any other goes to `report` (a sentinel down, seen when one is reconnected).
 */
function watchSentinelConnections (redis: Redis, report: (err: Error) => void): Redis {
  type Open = (...args: unknown[]) => Redis
  const connector = (redis as unknown as { connector?: { connectToSentinel?: Open } }).connector
  const open = connector?.connectToSentinel
  if (connector === undefined || typeof open !== 'function') return redis // test/ha/redis-tls-acl.test.ts fails then
  connector.connectToSentinel = function (this: unknown, ...args: unknown[]): Redis {
    const sentinel = open.apply(this, args)
    sentinel.on('error', (err: Error) => {
      if ((sentinel as unknown as { manuallyClosing?: boolean }).manuallyClosing !== true) report(err)
    })
    return sentinel
  }
  return redis
}

export function connectRedis (target: RedisTarget, timeoutMs: number, log: StoreLogger): StoreRedis {
  const where = describeTarget(target)
  const sentinelError = rateLimitedWarn(log, { store: 'redis', target: where }, 'redis sentinel connection failed')
  const redis = openConnection(target, timeoutMs, { sentinelError })
  for (const [name, def] of Object.entries(scripts)) redis.defineCommand(name, def) // EVALSHA
  watchConnection(redis, log, where)
  return redis as StoreRedis
}

/** A warn line per error, at most one per ERROR_LOG_EVERY_MS, with how many were held back since the last. */
function rateLimitedWarn (log: StoreLogger, fields: object, msg: string): (err: Error) => void {
  let lastLog = 0
  let suppressed = 0
  return (err) => {
    const now = Date.now()
    if (now - lastLog < ERROR_LOG_EVERY_MS) { suppressed++; return }
    log.warn({ ...fields, err: err.message, suppressed }, msg)
    lastLog = now
    suppressed = 0
  }
}

/** Connections the store closes on purpose: their 'end' is final. */
const closedOnPurpose = new WeakSet<object>()

/** Marks a connection the store is about to close, so watchConnection does not start it again. */
export function closeOnPurpose (redis: Redis | Cluster): void {
  closedOnPurpose.add(redis)
}

/**
 * Without an 'error' listener ioredis reports every failed reconnect as unhandled. Logged at
 * warn, at most one line per ERROR_LOG_EVERY_MS; the first 'ready' after errors is logged at info.
 */
function watchConnection (redis: Redis | Cluster, log: StoreLogger, where: string): void {
  let down = false
  const warn = rateLimitedWarn(log, { store: 'redis', target: where }, 'redis unavailable')
  redis.on('error', (err: Error) => {
    down = true
    warn(err)
  })
  redis.on('ready', () => {
    if (down) log.info({ store: 'redis', target: where }, 'redis connection restored')
    down = false
  })
  // ioredis ends a Sentinel client for good ("Connection is closed.", status end, no more retries)
  // when its failover detector disconnects it in the middle of a reconnect (+switch-master while the
  // old master refuses): seen in test/ha/sentinel-load.test.ts. Start it again, as the retry would.
  if (!('sentinels' in redis.options) || redis.options.sentinels == null) return
  redis.on('end', () => {
    if (closedOnPurpose.has(redis)) return
    setTimeout(() => { if (!closedOnPurpose.has(redis) && redis.status === 'end') redis.connect().catch(() => {}) }, retry(1)).unref()
  })
}

/** Runs one Redis call: bounded in time, every failure turned into StoreUnavailableError. */
export async function bounded<T> (what: string, timeoutMs: number, op: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new StoreUnavailableError(`redis ${what}: no answer within ${timeoutMs} ms`))
    }, timeoutMs + GUARD_GRACE_MS)
  })
  try {
    return await Promise.race([op(), guard])
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw err
    throw new StoreUnavailableError(`redis ${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  } finally {
    clearTimeout(timer)
  }
}

/** bounded(), timed for the store's observer (metrics): duration in seconds, and whether it failed. */
export async function timed<T> (observer: StoreObserver, what: string, timeoutMs: number, op: () => Promise<T>): Promise<T> {
  const start = performance.now()
  let failed = true
  try {
    const result = await bounded(what, timeoutMs, op)
    failed = false
    return result
  } finally {
    observer.command((performance.now() - start) / 1000, failed)
  }
}

/** Waits for the connection's next 'ready' event, at most `ms`. */
export async function readyOrTimeout (redis: Redis | Cluster, ms: number): Promise<void> {
  if (ms <= 0) return
  await new Promise<void>((resolve) => {
    const done = (): void => { clearTimeout(timer); redis.off('ready', done); resolve() }
    const timer = setTimeout(done, ms)
    redis.once('ready', done)
  })
}
