// Builds a real listening gateway for a test and closes it in teardown.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
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
}): Promise<TestGateway> {
  const routesFile = writeRoutes(opts.routes)
  const config = loadConfig({ ROUTES_FILE: routesFile, PORT: '0', BCRYPT_COST: '4', ...opts.env })
  const store = opts.store ?? createStore({ timeoutMs: 1000 })
  const table = await loadRouteTable(routesFile)
  const keys = opts.keys ?? await KeyRing.load(store, { alg: config.SIGNING_ALG, logger: silentLogger, refreshIntervalMs: 0 })
  const watcher = new RouteWatcher(routesFile, table, silentLogger)
  const app = await buildApp({ config, store, routes: watcher, keys, logger: opts.logger ?? false })
  await app.listen({ port: config.PORT, host: '127.0.0.1' }) // 0 (a free port) unless env.PORT names one
  const port = (app.server.address() as { port: number }).port
  // tokens minted by tests carry the store's epoch, as the token endpoint's do (SECURITY.md E02)
  await store.epoch.verify()
  registerStoreEpoch(config, () => store.epoch.current)
  t.teardown(async () => {
    await watcher.stop()
    await app.close()
    if (opts.keys === undefined) keys.close()
    if (opts.store === undefined) await store.close()
  })
  return { app, url: `http://127.0.0.1:${port}`, port, store, keys, watcher, routesFile, config }
}
