// /healthz: the process is up. /readyz: the store answers, its epoch is confirmed and did not change
// lately, the signing keys are loaded and a route map is loaded; 503 otherwise, so load balancers stop
// sending traffic (also while shutting down, and after a start without Redis until it appears:
// SECURITY.md F01). A store epoch that changed (the store lost its data, SECURITY.md E02) keeps the
// instance not ready for `epochChangeHoldMs`, the longest an access token of the lost epoch lives.
// With REDIS_MIN_REPLICAS > 0 the answer also reports the replicas (issue 11 item 5): a master short of
// them (right after a failover) keeps the instance ready, since every request can still be served
// (durable writes then wait for the replicas online only), and says so in `replicas.short`.
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
  /** How long a store-epoch change keeps /readyz at 503 (ACCESS_TOKEN_TTL + CLOCK_SKEW). */
  epochChangeHoldMs?: number
  now?: () => number
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
    epochReadiness(opts)
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
    const replicas = opts.store.replicas?.()
    return {
      status: 'ready',
      store: opts.store.kind,
      routes: table.routes.length,
      route_map_version: table.version,
      ...(replicas !== undefined && replicas.required > 0 && { replicas })
    }
  })
}

/** Throws not_ready while the store epoch is unconfirmed or changed lately (SECURITY.md E02, E04). */
function epochReadiness (opts: HealthOptions): void {
  const epoch = opts.store.epoch.status()
  const notReady = (description: string, state: string): GatewayError =>
    new GatewayError('not_ready', { description, headers: { 'retry-after': '1' }, extra: { store_epoch: state } })
  if (epoch.unsafe !== null) throw notReady('The store may evict keys (maxmemory-policy)', 'unsafe')
  const hold = opts.epochChangeHoldMs ?? 0
  if (epoch.changedAt !== null && (opts.now ?? Date.now)() - epoch.changedAt < hold) {
    throw notReady('The store lost its data (epoch changed): tokens issued before are refused', 'changed')
  }
  if (epoch.current === null) throw notReady('The store epoch is not confirmed yet', 'unconfirmed')
}
