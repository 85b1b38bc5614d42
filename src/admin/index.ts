// The admin listener: a second Fastify instance, on ADMIN_HOST:ADMIN_PORT, owned by the gateway
// (started and closed with it by src/server.ts). Nothing of it is routed on the proxy port: the two
// apps share no routes, only the store, key ring, route map and metrics.
//
//   /metrics         Prometheus exposition (prom-client), public with ADMIN_METRICS_PUBLIC=1
//   /admin/status    status.ts
//   /admin/routes    routes.ts
//   ...              every plugin in ADMIN_ROUTE_PLUGINS, in order
//
// ADMIN_AUTH=required (the default off loopback): an admin token is checked first, by auth.ts.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import type { Logger } from 'pino'
import { adminAuthMode } from '../config/env.js'
import { registerErrorHandler } from '../errors/handler.js'
import { adminAuthHook } from './auth.js'
import type { AdminDeps } from './deps.js'
import { adminAccessPlugin } from './access.js'
import { adminRoutesPlugin } from './routes.js'
import { adminStatusPlugin } from './status.js'

export type { AdminDeps } from './deps.js'

/**
 * The admin route plugins, registered explicitly in this order behind the admin auth hook. Each
 * is given AdminDeps (a superset of what each needs).
 */
export const ADMIN_ROUTE_PLUGINS: ReadonlyArray<FastifyPluginAsync<AdminDeps>> = [
  adminStatusPlugin,
  adminRoutesPlugin,
  adminAccessPlugin
]

export const METRICS_PATH = '/metrics'

/** Builds the admin app (not listening). */
export async function buildAdminApp (deps: AdminDeps, logger: Logger | false): Promise<FastifyInstance> {
  const app: FastifyInstance = logger === false
    ? Fastify({ logger: false, forceCloseConnections: true, requestTimeout: 30_000 })
    : Fastify({ loggerInstance: logger.child({ listener: 'admin' }) as unknown as FastifyBaseLogger, forceCloseConnections: true, requestTimeout: 30_000 })
  app.decorateRequest('pipeline', null)
  registerErrorHandler(app)
  if (adminAuthMode(deps.config) === 'required') {
    const publicPaths = new Set(deps.config.ADMIN_METRICS_PUBLIC === '1' ? [METRICS_PATH] : [])
    app.addHook('onRequest', adminAuthHook({ config: deps.config, store: deps.store, keys: deps.keys, publicPaths }))
  }
  app.get(METRICS_PATH, async (_request, reply) => {
    const { contentType, body } = await deps.metrics.scrape()
    return reply.type(contentType).header('cache-control', 'no-store').send(body)
  })
  for (const plugin of ADMIN_ROUTE_PLUGINS) await app.register(plugin, deps)
  return app
}

export interface RunningAdmin {
  app: FastifyInstance
  /** http://host:port it listens on. */
  url: string
  close(): Promise<void>
}

/** Builds and starts the admin listener on `listen` (tests pass port 0 for an ephemeral one). */
export async function startAdmin (deps: AdminDeps, listen: { port: number, host: string }, logger: Logger | false): Promise<RunningAdmin> {
  const app = await buildAdminApp(deps, logger)
  await app.listen(listen)
  const addr = app.server.address()
  const url = typeof addr === 'object' && addr !== null
    ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
    : String(addr)
  return { app, url, close: async () => { await app.close() } }
}
