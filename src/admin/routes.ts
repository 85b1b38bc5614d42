// GET /admin/routes: the running route map as the gateway enforces it: per route its id, methods,
// path, auth, scopes, rate limit and upstream (name and URL). No secrets: upstream URLs cannot carry
// credentials (the loader refuses them) and CA bundles are not shown.
import type { FastifyInstance } from 'fastify'
import type { CompiledRoute } from '../config/route-types.js'
import type { AdminDeps } from './deps.js'

function describeRoute (r: CompiledRoute): object {
  return {
    id: r.id,
    methods: r.methods,
    path: r.path,
    auth: r.auth,
    scopes: r.scopes,
    rate_limit: r.rateLimit === null ? null : { limit: r.rateLimit.limit, window_ms: r.rateLimit.windowMs, by: r.rateLimit.by, mode: r.rateLimit.mode },
    forward_token: r.forwardToken,
    upstream: { name: r.upstream.name, url: r.upstream.origin + r.upstream.basePath }
  }
}

export async function adminRoutesPlugin (app: FastifyInstance, deps: AdminDeps): Promise<void> {
  app.get('/admin/routes', async (_request, reply) => {
    const table = deps.routes.current()
    reply.header('cache-control', 'no-store')
    return { version: table.version, routes: table.routes.map(describeRoute) }
  })
}
