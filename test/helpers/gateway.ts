// Builds a real listening gateway for a test and closes it in teardown.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { startAdmin, type RunningAdmin } from '../../src/admin/index.js'
import { GatewayMetrics } from '../../src/admin/metrics.js'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config/env.js'
import { loadRouteTable } from '../../src/config/route-map-loader.js'
import { RouteWatcher } from '../../src/config/route-watcher.js'
import { KeyRing } from '../../src/oauth/keys.js'
import { createStore } from '../../src/store/index.js'
import type { Store } from '../../src/store/types.js'
import { registerStoreEpoch } from './tokens.js'

interface Teardown { teardown(fn: () => unknown): void }

export interface TestGateway {
  app: FastifyInstance
  url: string
  port: number
  store: Store
  keys: KeyRing
  watcher: RouteWatcher
  routesFile: string
  config: Readonly<Config>
  /** With `admin: true`: the admin listener on an ephemeral loopback port, and its metrics. */
  admin: RunningAdmin | null
  metrics: GatewayMetrics | null
}

export const silentLogger = { info () {}, warn () {}, error () {}, debug () {} }

/** Writes `yaml` to a fresh temp file and returns its path. */
export function writeRoutes (yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-routes-'))
  const file = join(dir, 'routes.yaml')
  writeFileSync(file, yaml)
  return file
}

export async function startTestGateway (t: Teardown, opts: {
  routes: string
  env?: Record<string, string>
  store?: Store
  keys?: KeyRing
  /** A pino logger (e.g. captureLogs().logger); default none. */
  logger?: Logger
  /**
   * Start the admin listener (metrics on) on an ephemeral loopback port. Default: off, as ADMIN_PORT=0
   * (parallel test files would otherwise all bind the default 9090).
   */
  admin?: boolean
  /** The metrics to use (implies `admin`), e.g. already given to a Redis store as its observer. */
  metrics?: GatewayMetrics
}): Promise<TestGateway> {
  const routesFile = writeRoutes(opts.routes)
  const config = loadConfig({ ROUTES_FILE: routesFile, PORT: '0', ADMIN_PORT: '0', BCRYPT_COST: '4', ...opts.env })
  const metrics = opts.metrics ?? (opts.admin === true ? new GatewayMetrics() : null)
  const store = opts.store ?? createStore({ timeoutMs: 1000, observer: metrics ?? undefined })
  const table = await loadRouteTable(routesFile)
  const keys = opts.keys ?? await KeyRing.load(store, { alg: config.SIGNING_ALG, logger: silentLogger, refreshIntervalMs: 0 })
  const watcher = new RouteWatcher(routesFile, table, silentLogger)
  const app = await buildApp({ config, store, routes: watcher, keys, logger: opts.logger ?? false, metrics })
  await app.listen({ port: config.PORT, host: '127.0.0.1' }) // 0 (a free port) unless env.PORT names one
  const admin = metrics === null
    ? null
    : await startAdmin({ config, store, routes: watcher, keys, metrics, startedAt: Date.now(), now: Date.now }, { port: 0, host: '127.0.0.1' }, opts.logger ?? false)
  const port = (app.server.address() as { port: number }).port
  // tokens minted by tests carry the store's epoch, as the token endpoint's do (SECURITY.md E02)
  await store.epoch.verify()
  registerStoreEpoch(config, () => store.epoch.current)
  t.teardown(async () => {
    await watcher.stop()
    await admin?.close()
    await app.close()
    if (opts.keys === undefined) keys.close()
    if (opts.store === undefined) await store.close()
  })
  return { app, url: `http://127.0.0.1:${port}`, port, store, keys, watcher, routesFile, config, admin, metrics }
}
