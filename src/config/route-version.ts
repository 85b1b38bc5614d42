// The route-map version: the first 12 hex characters of a SHA-256 over the map's normalised content,
// so ops can see that every instance runs the same map (/readyz, /admin/status, the reload log line,
// portcullis_route_map_info).
//
// "Normalised" is the compiled table, not the file: the canonical JSON (object keys sorted, no
// whitespace) of every route (id, path, methods, auth, scopes, rate limit, forward_token, body limit,
// upstream name) sorted by id, and every upstream (name, origin, base path, timeout, TLS settings with
// the CA bundle's PEM text) sorted by name, and the `scopes` section's descriptions (shown on the
// consent page) sorted by scope. Comments, whitespace, key order, YAML spelling (`5s` or
// `5000ms`) and route order (routes never overlap, so order decides nothing) leave it unchanged; any
// change of what the gateway enforces or where it forwards changes it.
import { createHash } from 'node:crypto'
import type { CompiledRoute, CompiledUpstream } from './route-types.js'

/** JSON with object keys sorted at every level; undefined members are left out, as JSON.stringify does. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

const byKey = <T>(key: (x: T) => string) => (a: T, b: T): number => {
  const ka = key(a)
  const kb = key(b)
  return ka < kb ? -1 : ka > kb ? 1 : 0
}

function upstreamContent (u: CompiledUpstream): object {
  return {
    name: u.name,
    origin: u.origin,
    basePath: u.basePath,
    timeoutMs: u.timeoutMs,
    tls: u.tls === undefined ? undefined : { ca: u.tls.ca, verify: u.tls.verify }
  }
}

/** What of a route the version covers (routeJson writes exactly canonicalJson of it). */
export function routeContent (r: CompiledRoute): object {
  return {
    id: r.id,
    path: r.path,
    methods: r.methods,
    auth: r.auth,
    scopes: r.scopes,
    rateLimit: r.rateLimit,
    forwardToken: r.forwardToken,
    bodyLimit: r.bodyLimit,
    upstream: r.upstream.name
  }
}

/**
 * What of a route the version covers, with its keys created in sorted order and no key whose value
 * is undefined: JSON.stringify of it writes exactly canonicalJson(routeContent(r)), in one native
 * call (a 10,000-route map is hashed on every reload: the generic walk took ~150 ms of it, a
 * hand-written writer ~35 ms). test/unit/route-table.test.ts keeps the two equal.
 */
function sortedRouteContent (r: CompiledRoute): object {
  const rl = r.rateLimit
  return r.bodyLimit === undefined
    ? { auth: r.auth, forwardToken: r.forwardToken, id: r.id, methods: r.methods, path: r.path, rateLimit: rl === null ? null : { by: rl.by, limit: rl.limit, mode: rl.mode, windowMs: rl.windowMs }, scopes: r.scopes, upstream: r.upstream.name }
    : { auth: r.auth, bodyLimit: r.bodyLimit, forwardToken: r.forwardToken, id: r.id, methods: r.methods, path: r.path, rateLimit: rl === null ? null : { by: rl.by, limit: rl.limit, mode: rl.mode, windowMs: rl.windowMs }, scopes: r.scopes, upstream: r.upstream.name }
}

/** canonicalJson(routeContent(r)), without the generic walk. */
export function routeJson (r: CompiledRoute): string {
  return JSON.stringify(sortedRouteContent(r))
}

/** The normalised content whose hash is the version (see the top of this file). */
export function normalisedRouteMap (routes: readonly CompiledRoute[], upstreams: Iterable<CompiledUpstream>,
  scopeDescriptions: ReadonlyMap<string, string> = new Map()): string {
  const sortedRoutes = [...routes].sort(byKey((r) => r.id))
  // canonicalJson of { routes, scopes, upstreams }: keys in that (sorted) order
  const scopes = scopeDescriptions.size === 0 ? '' : `,"scopes":${canonicalJson(Object.fromEntries(scopeDescriptions))}`
  return `{"routes":${JSON.stringify(sortedRoutes.map(sortedRouteContent))}${scopes},"upstreams":${canonicalJson([...upstreams].sort(byKey((u) => u.name)).map(upstreamContent))}}`
}

/** First 12 hex characters of sha256(normalised content). */
export function routeMapVersion (routes: readonly CompiledRoute[], upstreams: Iterable<CompiledUpstream>,
  scopeDescriptions?: ReadonlyMap<string, string>): string {
  return createHash('sha256').update(normalisedRouteMap(routes, upstreams, scopeDescriptions)).digest('hex').slice(0, 12)
}
