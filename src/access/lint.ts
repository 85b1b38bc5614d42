// `portcullis routes check FILE --registry`: the route map read against the registry of clients.
// Errors: a route no token can ever pass (a scope it requires that no client may be granted: every
// token carries at most its client's scopes, src/oauth/scope.ts). Warnings: scopes granted to clients
// that no route requires (dead grants), and `auth: none` routes on an upstream origin that also serves
// `auth: required` routes (one service, part open: worth a second look). Pure: no I/O.
import type { RouteTable } from '../config/route-types.js'
import type { Registry } from './registry.js'

export type LintCode = 'unreachable_route' | 'dead_grant' | 'public_on_protected_upstream'

export interface LintFinding {
  level: 'error' | 'warning'
  code: LintCode
  message: string
  /** unreachable_route, public_on_protected_upstream: the route id. */
  route?: string
  /** unreachable_route: the route's scopes no client may be granted; dead_grant: the scope. */
  scopes?: string[]
  /** dead_grant: the clients granted it. */
  clients?: string[]
  /** public_on_protected_upstream: the upstream, and the protected routes it also serves. */
  upstream?: string
  protected_routes?: string[]
}

export interface LintReport { errors: LintFinding[], warnings: LintFinding[] }

export function lintRegistry (table: RouteTable, registry: Registry): LintReport {
  const errors: LintFinding[] = []
  const warnings: LintFinding[] = []
  const grantable = new Set(registry.clients.flatMap((c) => c.scopes))
  for (const route of table.routes) {
    if (route.auth !== 'required' || route.scopes.length === 0) continue
    const never = route.scopes.filter((s) => !grantable.has(s))
    if (never.length > 0) {
      errors.push({ level: 'error', code: 'unreachable_route', route: route.id, scopes: never,
        message: `route ${route.id} is unreachable: no client may be granted ${never.join(' ')}` })
    } else if (!registry.clients.some((c) => route.scopes.every((s) => c.scopes.includes(s)))) {
      // every scope is grantable, but no single client holds all of them: no token can carry them all
      errors.push({ level: 'error', code: 'unreachable_route', route: route.id, scopes: [...route.scopes],
        message: `route ${route.id} is unreachable: no single client may be granted all of ${route.scopes.join(' ')}` })
    }
  }
  const required = new Set(table.routes.flatMap((r) => r.auth === 'required' ? r.scopes : []))
  const dead = new Map<string, string[]>()
  for (const c of registry.clients) {
    for (const s of c.scopes) if (!required.has(s)) dead.set(s, [...dead.get(s) ?? [], c.id])
  }
  for (const [scope, clients] of [...dead].sort(([a], [b]) => a < b ? -1 : 1)) {
    warnings.push({ level: 'warning', code: 'dead_grant', scopes: [scope], clients,
      message: `scope ${scope} is granted to ${clients.length === 1 ? 'client' : 'clients'} ${clients.join(', ')} but no route requires it` })
  }
  for (const route of table.routes) {
    if (route.auth !== 'none') continue
    const origin = route.upstream.origin
    const guarded = table.routes.filter((r) => r.auth === 'required' && r.upstream.origin === origin).map((r) => r.id)
    if (guarded.length === 0) continue
    warnings.push({ level: 'warning', code: 'public_on_protected_upstream', route: route.id, upstream: route.upstream.name, protected_routes: guarded,
      message: `route ${route.id} is auth: none on upstream ${route.upstream.name} (${origin}), which also serves protected routes: ${guarded.join('; ')}` })
  }
  return { errors, warnings }
}
