// /healthz: the process is up. /readyz: the store answers, the signing keys are loaded and a route
// map is loaded; 503 otherwise, so load balancers stop sending traffic (also while shutting down,
// and after a start without Redis until it appears: SECURITY.md F01).
import type { FastifyInstance } from 'fastify'
import type { Store } from './store/types.js'
import type { RouteSource } from './pipeline/match.js'
import { GatewayError } from './errors/gateway-error.js'

/** The part of the KeyRing readiness needs. */
export interface KeyReadiness {
  readonly ready: boolean
  ensureReady(): Promise<void>
}

export interface HealthOptions {
  store: Store
  routes: RouteSource
  isClosing: () => boolean
  /** The signing key set; not ready while it could not be read from the store yet. */
  keys?: KeyReadiness
}

export async function healthPlugin (app: FastifyInstance, opts: HealthOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    if (opts.isClosing()) throw new GatewayError('shutting_down', { headers: { 'retry-after': '1' } })
    try {
      await opts.store.ping()
    } catch (err) {
      throw new GatewayError('not_ready', { description: 'The store is unreachable', headers: { 'retry-after': '1' }, cause: err })
    }
    if (opts.keys !== undefined && !opts.keys.ready) {
      // the store answers again: load now rather than wait for the background retry
      try {
        await opts.keys.ensureReady()
      } catch (err) {
        throw new GatewayError('not_ready', { description: 'The signing keys are not loaded yet', headers: { 'retry-after': '1' }, cause: err })
      }
    }
    const table = opts.routes.current()
    reply.header('cache-control', 'no-store')
    return { status: 'ready', store: opts.store.kind, routes: table.routes.length }
  })
}
