// The revocation feed of the Redis store: one extra connection in subscriber mode on the
// `<prefix>revocations` channel, where every revocation script PUBLISHes in the same atomic step
// as its write (scripts.ts); on a Cluster a sharded channel (SSUBSCRIBE; the store SPUBLISHes right
// after the write, writes.ts).
//
// Redis pub/sub delivers at most once and only to connected subscribers, so the feed says when it
// may have missed something: down() on any disconnect, and when a heartbeat PING gets no answer
// within the command timeout (a frozen server or a silent network path); up() after each
// successful (S)SUBSCRIBE, when the subscriber must reload a snapshot. The subscription is made by
// hand on every 'ready' (autoResubscribe off), so up() always means "subscribed now".
//
// Sentinel: the subscriber asks the sentinels for the master like the command client, so after a
// failover it reconnects to the new master, subscribes again (up) and the view reloads its snapshot.
// Cluster: the subscriber is a plain connection to the master that serves the channel's slot, as the
// command client's slot map names it. A disconnect (failover) or a heartbeat that finds another
// master serving that slot (migration) drops it (down); the next one goes to the current master.
import { Redis } from 'ioredis'
import type { RevocationEvent, RevocationFeed, RevocationFeedHandlers } from '../types.js'
import { openConnection, serverOptions, type StoreLogger, type StoreRedis } from './client.js'
import { calculateSlot, isCluster } from './slots.js'
import type { RedisTarget } from './target.js'

/**
 * How often the subscriber connection is PINGed unless the subscriber asks otherwise (the replica
 * PINGs every quarter of REVOCATION_MAX_LAG); a lost feed is dropped within this + the timeout.
 */
export const FEED_HEARTBEAT_MS = 1000
/** Cluster: wait before asking the slot map again for the channel's master. */
const CLUSTER_RECONNECT_MS = 200

export interface FeedOptions {
  target: RedisTarget
  /** The store's command client: on a Cluster, its slot map says where the channel lives. */
  command: StoreRedis
  channel: string
  timeoutMs: number
  logger: StoreLogger
  handlers: RevocationFeedHandlers
  heartbeatMs?: number
}

export function subscribeFeed (opts: FeedOptions): RevocationFeed {
  const { handlers, channel, logger, command } = opts
  const sharded = isCluster(command)
  const slot = calculateSlot(channel)
  let sub: Redis
  let node = '' // Cluster: host:port the subscriber talks to
  let up = false
  let closed = false
  let reconnect: NodeJS.Timeout | undefined
  const lost = (why: string): void => {
    if (!up) return
    up = false
    logger.warn({ store: 'redis', feed: channel, why }, 'revocation feed lost: checking revocation per request until re-synced')
    handlers.down()
  }
  const onMessage = (ch: string, message: string): void => {
    if (ch !== channel) return
    let e: RevocationEvent
    try {
      e = JSON.parse(message) as RevocationEvent
    } catch {
      // an unreadable event means a missed change: re-sync from a snapshot
      lost('unreadable event')
      sub.disconnect(true)
      return
    }
    handlers.event(e)
  }
  const connect = (): void => {
    if (sharded) {
      node = command.status === 'ready' ? (command as unknown as { slots: string[][] }).slots[slot]?.[0] ?? '' : ''
      if (node === '') { reconnect = setTimeout(connect, CLUSTER_RECONNECT_MS); return }
      const [host, port] = [node.slice(0, node.lastIndexOf(':')), Number(node.slice(node.lastIndexOf(':') + 1))]
      // no reconnect of its own: after a failover the next connection goes to the slot's new master
      sub = new Redis({ ...serverOptions(opts.target, opts.timeoutMs), host, port, autoResubscribe: false, retryStrategy: () => null })
      sub.on('end', () => { if (!closed) reconnect = setTimeout(connect, CLUSTER_RECONNECT_MS) })
    } else {
      // its own sentinel connections' errors are dropped (openConnection): the command client reports them
      sub = openConnection(opts.target, opts.timeoutMs, { server: { autoResubscribe: false } }) as Redis
    }
    sub.on('error', () => { /* reconnects by itself; the client's own log line covers it */ })
    sub.on('close', () => { lost('disconnected') })
    sub.on('ready', () => {
      const subscribed = sharded ? sub.ssubscribe(channel) : sub.subscribe(channel)
      subscribed.then(() => {
        if (closed) return
        up = true
        handlers.up()
      }, (err: unknown) => {
        logger.warn({ store: 'redis', feed: channel, err: (err as Error).message }, 'revocation feed: subscribe failed')
        sub.disconnect(!sharded)
      })
    })
    sub.on(sharded ? 'smessage' : 'message', onMessage)
  }
  connect()
  let pinging = false // one heartbeat at a time: a slow answer is not piled on
  const heartbeat = setInterval(() => {
    if (!up || pinging) return
    if (sharded && (command as unknown as { slots: string[][] }).slots[slot]?.[0] !== node && command.status === 'ready') {
      lost('channel slot moved') // migration or failover seen by the command client first
      sub.disconnect()
      return
    }
    // the answer comes after every message published before the server read the PING (one
    // connection, in order): it proves the feed current as of the moment the PING was sent
    const sentAt = performance.now()
    pinging = true
    let timer: NodeJS.Timeout | undefined
    Promise.race([
      sub.ping(),
      new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('no answer')) }, opts.timeoutMs) })
    ]).then(() => {
      clearTimeout(timer)
      pinging = false
      if (up) handlers.alive?.(performance.now() - sentAt)
    }, () => {
      clearTimeout(timer)
      pinging = false
      lost('heartbeat unanswered')
      if (!closed) sub.disconnect(!sharded) // reconnect: a fresh subscription, then up() and a re-sync
    })
  }, opts.heartbeatMs ?? FEED_HEARTBEAT_MS)
  heartbeat.unref()
  return {
    close: async () => {
      closed = true
      clearInterval(heartbeat)
      clearTimeout(reconnect)
      up = false
      sub?.disconnect()
    }
  }
}
