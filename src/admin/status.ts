// GET /admin/status: what ops compare across instances. The route-map version, the store (mode,
// whether it answers, its epoch), revocation (mode, whether the local view is live, feed lag), the
// signing key ids in use, uptime and the package version. Read by `portcullis status`.
import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import type { AdminDeps } from './deps.js'

export interface AdminStatus {
  package_version: string
  uptime_seconds: number
  route_map_version: string
  routes: number
  store: { mode: 'memory' | 'redis', healthy: boolean, epoch: 'confirmed' | 'unconfirmed' | 'unsafe' }
  revocation: { mode: 'strict' | 'replicated', live: boolean, feed_lag_seconds: number }
  signing_keys: { signing: string | null, published: string[] }
}

/** The version in package.json (beside dist/ and src/, also in the Docker image). */
function packageVersion (): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

export async function adminStatusPlugin (app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const version = packageVersion()
  app.get('/admin/status', async (_request, reply): Promise<AdminStatus> => {
    const { store, keys, metrics } = deps
    const table = deps.routes.current()
    const healthy = await store.ping().then(() => true, () => false)
    const epoch = store.epoch.status()
    const replica = metrics.revocations
    reply.header('cache-control', 'no-store')
    return {
      package_version: version,
      uptime_seconds: Math.round((deps.now() - deps.startedAt) / 100) / 10,
      route_map_version: table.version,
      routes: table.routes.length,
      store: { mode: store.kind, healthy, epoch: epoch.unsafe !== null ? 'unsafe' : epoch.current === null ? 'unconfirmed' : 'confirmed' },
      revocation: {
        mode: deps.config.REVOCATION_MODE,
        live: replica?.live ?? false,
        feed_lag_seconds: replica?.feedLagSeconds() ?? 0
      },
      signing_keys: {
        signing: keys.ready ? keys.signingKey().kid : null,
        published: keys.jwks().map((k) => k.kid)
      }
    }
  })
}
