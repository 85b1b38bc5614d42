// The shape of routes.yaml as TypeBox schemas (unknown keys refused everywhere), plus the grammar of
// the values a schema cannot express: route paths and upstream URLs. Cross-entry rules (references,
// overlaps, reserved paths) live in route-map-loader.ts; matching semantics in route-table.ts.
// `errorMessage` on a schema replaces the generic message for any failure at that node.
import { Type } from 'typebox'
import { HTTP_METHODS } from './route-types.js'

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
export const SCOPE_TOKEN_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$'
export const UPSTREAM_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]*$/
export const DEFAULT_UPSTREAM_TIMEOUT = '30s'

const Duration = Type.String({ errorMessage: 'must be a duration like 250ms, 5s, 1m, 2h or 1d' })
const Auth = Type.Enum(['required', 'optional', 'none'], { errorMessage: 'must be one of required, optional, none' })

export const RateLimitSchema = Type.Object({
  limit: Type.Integer({ minimum: 1, errorMessage: 'must be a whole number of requests, at least 1' }),
  window: Duration,
  by: Type.Enum(['subject', 'client', 'ip'], { errorMessage: 'must be one of subject, client, ip' }),
  // batched (default): per instance, synced in batches; exact: one store round trip per request (README "At the edge", Rate-limit)
  mode: Type.Optional(Type.Enum(['batched', 'exact'], { errorMessage: 'must be one of batched, exact' }))
}, { additionalProperties: false })

/**
 * `rate_limit` is a RateLimitSchema mapping, or `off`/`false`. Left open here and checked by the loader
 * against RateLimitSchema: a union would make the error report vague (and TypeBox's anyOf reporting
 * drops sibling errors).
 */
const RateLimitField = Type.Unknown()

export const UpstreamSchema = Type.Object({
  url: Type.String({ errorMessage: 'must be an http: or https: URL' }),
  timeout: Type.Optional(Duration),
  ca: Type.Optional(Type.String({ minLength: 1, errorMessage: 'must be the path of a PEM CA bundle (relative to the route map)' })),
  tls_verify: Type.Optional(Type.Boolean({ errorMessage: 'must be true or false' }))
}, { additionalProperties: false })

export const RouteSchema = Type.Object({
  path: Type.String({ errorMessage: 'must be a path like /orders/:id or /orders/*' }),
  methods: Type.Optional(Type.Array(
    Type.Enum([...HTTP_METHODS], { errorMessage: `must be one of ${HTTP_METHODS.join(', ')} (uppercase)` }),
    { minItems: 1, errorMessage: 'must be a non-empty list of methods (omit it for all methods)' })),
  upstream: Type.String({ errorMessage: 'must be the name of an upstream' }),
  auth: Type.Optional(Auth),
  scopes: Type.Optional(Type.Array(
    Type.String({ pattern: SCOPE_TOKEN_PATTERN, errorMessage: 'must be a scope token (RFC 6749 §3.3: printable ASCII, no space, " or \\)' }),
    { errorMessage: 'must be a list of scopes' })),
  rate_limit: Type.Optional(RateLimitField),
  forward_token: Type.Optional(Type.Boolean({ errorMessage: 'must be true or false' })),
  body_limit: Type.Optional(Type.String({ errorMessage: 'must be a size like 512kb, 1mb or 1gb' }))
}, { additionalProperties: false })

export const DefaultsSchema = Type.Object({
  auth: Type.Optional(Auth),
  rate_limit: Type.Optional(RateLimitField)
}, { additionalProperties: false })

export const RouteMapSchema = Type.Object({
  version: Type.Literal(1, { errorMessage: 'must be 1' }),
  upstreams: Type.Record(Type.String(), UpstreamSchema, { errorMessage: 'must be a mapping of upstream names to { url, timeout }' }),
  defaults: Type.Optional(DefaultsSchema),
  routes: Type.Array(RouteSchema, { errorMessage: 'must be a list of routes' }),
  // what each scope means, shown on the hosted login's consent page (README "Mobile clients")
  scopes: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1, maxLength: 200, errorMessage: 'must be a description of 1-200 characters' }),
    { errorMessage: 'must be a mapping of scope names to descriptions' }))
}, { additionalProperties: false, errorMessage: 'must be a mapping with version, upstreams and routes' })

// --- route paths: src/config/route-path.ts (no TypeBox there, so the CLI can load it cheaply)

export { parseRoutePath, type PathSegment, type RoutePattern } from './route-path.js'

// --- upstream URLs

/** Origin and base path of an upstream URL, or what is wrong with it. */
export function parseUpstreamUrl (text: string): { origin: string, basePath: string } | string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'is not a valid URL'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must use http: or https:, not ${url.protocol}`
  if (url.username !== '' || url.password !== '') return 'must not carry credentials'
  if (text.includes('?')) return 'must not have a query'
  if (text.includes('#')) return 'must not have a fragment'
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') }
}

// --- sizes

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }
const SIZE = /^([0-9]+)(b|kb|mb|gb)$/

/** Bytes for a size like `512kb` or `1mb` (binary multiples: 1kb = 1024 bytes), or what is wrong with it. */
export function parseSize (text: string): number | string {
  const m = SIZE.exec(text)
  if (m === null) return 'must be a size like 512kb, 1mb or 1gb'
  const bytes = Number(m[1]) * SIZE_UNITS[m[2]!]!
  return Number.isSafeInteger(bytes) ? bytes : 'is too large'
}
