// The compiled form of routes.yaml that the pipeline stages read. Built once per load
// (src/config/route-table.ts), frozen, and swapped atomically on reload; stages never search
// the YAML per request.

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
export type HttpMethod = typeof HTTP_METHODS[number]

export type AuthMode = 'required' | 'optional' | 'none'
export type RateLimitKey = 'subject' | 'client' | 'ip'

export interface CompiledUpstream {
  readonly name: string
  /** Origin, e.g. http://127.0.0.1:9001 */
  readonly origin: string
  /** Path prefix from the upstream URL ('' when none), prepended to the forwarded path. */
  readonly basePath: string
  readonly timeoutMs: number
  /** Only on https: upstreams with `ca` or `tls_verify: false`; absent: verified against the system CAs. */
  readonly tls?: UpstreamTls
}

/** Per-upstream TLS (SECURITY.md H15); upstreams sharing an origin share it (one pool per origin). */
export interface UpstreamTls {
  /** PEM bundle from `ca:` that replaces the system CAs for this upstream. */
  readonly ca: string | undefined
  /** The `ca:` file as resolved, for logs. */
  readonly caFile: string | undefined
  /** false only with an explicit `tls_verify: false`. */
  readonly verify: boolean
}

export interface RateLimitPolicy {
  readonly limit: number
  readonly windowMs: number
  readonly by: RateLimitKey
  /**
   * `batched` (default): counted per instance and synced to the store in batches (README "Rate
   * limits": bounded cluster-wide overshoot); `exact`: one store round trip per request.
   */
  readonly mode: RateLimitMode
}

export type RateLimitMode = 'batched' | 'exact'

export interface CompiledRoute {
  /** Stable id for logs and rate-limit keys: `<METHODS> <path>`, e.g. `GET,HEAD /orders/*`. */
  readonly id: string
  readonly path: string
  readonly methods: readonly HttpMethod[]
  readonly upstream: CompiledUpstream
  readonly auth: AuthMode
  /** All required, exact match. Empty: any valid token. */
  readonly scopes: readonly string[]
  /** null: not rate-limited. */
  readonly rateLimit: RateLimitPolicy | null
  /** Whether the client's Authorization header goes upstream (default true). */
  readonly forwardToken: boolean
  /** Largest request body in bytes (`body_limit`); undefined: MAX_BODY_SIZE. */
  readonly bodyLimit?: number | undefined
}

export type RouteLookup =
  | { kind: 'match'; route: CompiledRoute; params: Readonly<Record<string, string | undefined>> }
  | { kind: 'method_not_allowed'; allow: readonly HttpMethod[] }
  | { kind: 'not_found' }

export interface RouteTable {
  readonly routes: readonly CompiledRoute[]
  readonly upstreams: ReadonlyMap<string, CompiledUpstream>
  /** The file it came from (for messages). */
  readonly file: string
  /** First 12 hex chars of sha256 over the normalised content (route-version.ts); computed on first read. */
  readonly version: string
  /** The `scopes` section: scope → description, for the consent page. */
  readonly scopeDescriptions?: ReadonlyMap<string, string>
  /** `path` is the canonical request path (no query), already normalised by the match stage. */
  lookup(method: string, path: string): RouteLookup
}

/** One problem in a route map, positioned for `FILE:LINE:COLUMN message`. */
export interface RouteMapIssue {
  file: string
  line: number // 1-based
  column: number // 1-based
  message: string
}

export class RouteMapError extends Error {
  override readonly name = 'RouteMapError'
  readonly issues: readonly RouteMapIssue[]
  constructor (issues: RouteMapIssue[]) {
    super(issues.map(formatIssue).join('\n'))
    this.issues = issues
  }
}

export function formatIssue (i: RouteMapIssue): string {
  return `${i.file}:${i.line}:${i.column} ${i.message}`
}

/** Paths the gateway serves itself; a route may not shadow them. */
export const RESERVED_PREFIXES = ['/oauth', '/.well-known', '/healthz', '/readyz'] as const
