// Starts the gateway from a validated config: store, route map (watched), app, listener,
// SIGHUP reload and graceful shutdown. Used by `portcullis serve` and `portcullis dev`.
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import { accessDiffOnSwap } from './access/reload-log.js'
import { startAdmin, type RunningAdmin } from './admin/index.js'
import { GatewayMetrics } from './admin/metrics.js'
import { buildApp } from './app.js'
import type { Config } from './config/env.js'
import { loadRouteTable, type CompileOptions } from './config/route-map-loader.js'
import type { RouteTable } from './config/route-types.js'
import { RouteWatcher } from './config/route-watcher.js'
import { loggerOptions } from './logging.js'
import { KeyRing } from './oauth/keys.js'
import { createStore, describeTarget, redisTargetOf, RedisStore } from './store/index.js'
import type { Store } from './store/types.js'

export interface RunningGateway {
  app: FastifyInstance
  store: Store
  watcher: RouteWatcher
  logger: Logger
  url: string
  /** The admin listener (/metrics, /admin/*); null when ADMIN_PORT=0. */
  admin: RunningAdmin | null
  /** Graceful stop: stop accepting, finish in-flight requests, close the store (app onClose). */
  close(): Promise<void>
}

export interface StartOptions {
  logger?: Logger
  /** Runs last when the gateway closes (dev extras such as the demo upstream). */
  onClose?: () => void | Promise<void>
  /** How the route map is compiled, at start and on every reload (dev mode moves the demo upstream). */
  routeMap?: CompileOptions
}

export async function startGateway (config: Readonly<Config>, opts: StartOptions = {}): Promise<RunningGateway> {
  const logger = opts.logger ?? pino(loggerOptions(config.LOG_LEVEL))
  const redis = redisTargetOf(config) // throws one line: exactly one mode, a readable CA file
  if (redis === null) {
    logger.warn('REDIS_URL is not set: using the IN-MEMORY store. Users, clients, revocations and rate-limit ' +
      'counters live in this process only and are lost at exit. Never run it like this in production.')
  }
  const loadRoutes = (file: string): Promise<RouteTable> => loadRouteTable(file, opts.routeMap)
  const table = await loadRoutes(config.ROUTES_FILE)
  const startedAt = Date.now()
  // ADMIN_PORT=0: no admin listener and no metrics at all (nothing measured on the hot path)
  const metrics = config.ADMIN_PORT === 0 ? null : new GatewayMetrics()
  if (redis !== null) logger.info({ store: 'redis', target: describeTarget(redis), min_replicas: redis.minReplicas }, 'store: Redis')
  const store = createStore({ redis, timeoutMs: config.REDIS_TIMEOUT * 1000, logger, observer: metrics ?? undefined })
  // SECURITY.md E04: a Redis that may evict keys is refused at start (one line, exit 1). One that
  // does not answer yet is not (F01): its epoch stays unconfirmed, so every token gets 503 until it
  // answers, and if it then turns out to evict, every token keeps being refused (logged once).
  // Redis has no offline queue: this also waits (at most REDIS_TIMEOUT) for the first connect, or the
  // first key load below would fail on a connection still being opened and warn about keys about to load.
  if (store instanceof RedisStore) await store.ready()
  await store.epoch.verify()
  const unsafe = store.epoch.status().unsafe
  if (unsafe !== null) {
    await store.close()
    throw new Error(unsafe)
  }
  // F01: the key set comes from the store, which may not answer yet. The gateway listens anyway
  // (/healthz 200, /readyz 503, token checks 503) and the ring loads itself once the store answers.
  // One attempt is awaited first, so the memory store and a healthy Redis are ready before listen.
  const { ring: keys, settled } = KeyRing.loadLazy(store, { alg: config.SIGNING_ALG, logger })
  await settled
  const watcher = new RouteWatcher(config.ROUTES_FILE, table, logger, { load: loadRoutes })
  // every reload logs who gains (warn) or loses (info) access; the watcher (src/config) cannot import src/access
  watcher.onSwap(accessDiffOnSwap(logger))
  const app = await buildApp({ config, store, routes: watcher, keys, logger, metrics })
  // The app owns the store's connections (command client, and the revocation feed's subscriber,
  // closed by the replica's own onClose): app.close() ends them all (test/integration/redis-close.test.ts).
  // Not @fastify/redis: its registration waits for 'ready', so a gateway could not start while Redis
  // is absent (SECURITY.md F01); README "Libraries and what each does".
  app.addHook('onClose', async () => {
    keys.close()
    await store.close()
  })
  await app.listen({ port: config.PORT, host: config.HOST })
  let admin: RunningAdmin | null = null
  if (metrics !== null) {
    try {
      admin = await startAdmin({ config, store, routes: watcher, keys, metrics, startedAt, now: Date.now },
        { port: config.ADMIN_PORT, host: config.ADMIN_HOST }, logger)
    } catch (err) {
      await app.close()
      throw err
    }
    logger.info({ url: admin.url }, 'admin listener (/metrics, /admin/*) listening')
  }
  watcher.start()
  const addr = app.server.address()
  const url = typeof addr === 'object' && addr !== null
    ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
    : String(addr)
  logger.info({ url, routes: table.routes.length, route_map_version: table.version, store: store.kind, ready: keys.ready }, 'portcullis listening')

  let closed: Promise<void> | undefined
  return {
    app, store, watcher, logger, url, admin,
    close: () => {
      closed ??= (async () => {
        // the drain starts in this tick: from here a new request gets 503 or a refused connection;
        // in-flight ones finish. app.close() also closes the store (onClose above) and flushes traces,
        // bounded (src/observability/tracing.ts)
        const draining = app.close()
        await Promise.all([watcher.stop(), admin?.close()])
        await draining
        await opts.onClose?.()
      })()
      return closed
    }
  }
}

/** Wires process signals: SIGHUP reloads the route map; SIGTERM/SIGINT drain and exit 0. */
export function handleSignals (gw: RunningGateway, config: Readonly<Config>): void {
  process.on('SIGHUP', () => { void gw.watcher.reload('SIGHUP') })
  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT * 1000, skip: ['SIGHUP'], logger: gw.logger }, async ({ signal, err }) => {
    if (err !== undefined) gw.logger.fatal({ err }, 'fatal error, shutting down')
    else gw.logger.info({ signal }, 'shutting down: draining in-flight requests')
    await gw.close()
    gw.logger.info('stopped')
  })
}
