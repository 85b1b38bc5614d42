// The revocation feed of the Redis store: one extra connection in subscriber mode on the
// `<prefix>revocations` channel, where every revocation script PUBLISHes in the same atomic step
// as its write (scripts.ts).
//
// Redis pub/sub delivers at most once and only to connected subscribers, so the feed says when it
// may have missed something: down() on any disconnect, and when a heartbeat PING gets no answer
// within the command timeout (a frozen server or a silent network path); up() after each
// successful SUBSCRIBE, when the subscriber must reload a snapshot. The subscription is made by
// hand on every 'ready' (autoResubscribe off), so up() always means "subscribed now".
import { Redis } from 'ioredis'
import type { RevocationEvent, RevocationFeed, RevocationFeedHandlers } from '../types.js'
import type { StoreLogger } from './client.js'

/** How often the subscriber connection is PINGed; a lost feed is noticed within this + the timeout. */
export const FEED_HEARTBEAT_MS = 1000

export interface FeedOptions {
  url: string
  channel: string
  timeoutMs: number
  logger: StoreLogger
  handlers: RevocationFeedHandlers
  heartbeatMs?: number
}

export function subscribeFeed (opts: FeedOptions): RevocationFeed {
  const { handlers, channel, logger } = opts
  const sub = new Redis(opts.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResubscribe: false, // subscribed by hand on 'ready': up() only once SUBSCRIBE answered
    commandTimeout: opts.timeoutMs,
    connectTimeout: opts.timeoutMs,
    retryStrategy: (times) => Math.min(times * 100, 1000),
    lazyConnect: false
  })
  let up = false
  let closed = false
  const lost = (why: string): void => {
    if (!up) return
    up = false
    logger.warn({ store: 'redis', feed: channel, why }, 'revocation feed lost: checking revocation per request until re-synced')
    handlers.down()
  }
  sub.on('error', () => { /* reconnects by itself; the client's own log line covers it */ })
  sub.on('close', () => { lost('disconnected') })
  sub.on('ready', () => {
    sub.subscribe(channel).then(() => {
      if (closed) return
      up = true
      handlers.up()
    }, (err: unknown) => {
      logger.warn({ store: 'redis', feed: channel, err: (err as Error).message }, 'revocation feed: subscribe failed')
      sub.disconnect(true)
    })
  })
  sub.on('message', (ch: string, message: string) => {
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
  })
  const heartbeat = setInterval(() => {
    if (!up) return
    let timer: NodeJS.Timeout | undefined
    Promise.race([
      sub.ping(),
      new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('no answer')) }, opts.timeoutMs) })
    ]).then(() => {
      clearTimeout(timer)
      if (up) handlers.alive?.()
    }, () => {
      clearTimeout(timer)
      lost('heartbeat unanswered')
      if (!closed) sub.disconnect(true) // reconnect: a fresh subscription, then up() and a re-sync
    })
  }, opts.heartbeatMs ?? FEED_HEARTBEAT_MS)
  heartbeat.unref()
  return {
    close: async () => {
      closed = true
      clearInterval(heartbeat)
      up = false
      sub.disconnect()
    }
  }
}
