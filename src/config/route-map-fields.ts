// The field checkers of the route map (route-map-loader.ts compiles with them): each checks one value,
// reports what is wrong at its FILE:LINE:COLUMN through the SourceReporter, and returns it checked.
import { DURATION_PATTERN, parseDuration } from './duration.js'
import { RateLimitSchema, parseRoutePath, parseSize, type RoutePattern } from './route-map-schema.js'
import { BAD, SourceReporter, describe, isRecord, label, type Checked, type Key } from './route-map-reporter.js'
import { patternsOverlap } from './route-overlap.js'
import { HTTP_METHODS, RESERVED_PREFIXES, type AuthMode, type CompiledUpstream, type HttpMethod, type RateLimitPolicy } from './route-types.js'

const AUTH_MODES: readonly string[] = ['required', 'optional', 'none']
const DURATION_RE = new RegExp(DURATION_PATTERN)
const RESERVED = RESERVED_PREFIXES.map((prefix) => ({
  prefix, pattern: { segments: [{ kind: 'static', value: prefix.slice(1) }], wildcard: true } satisfies RoutePattern
}))

/** `body_limit` of a route: undefined when not set (MAX_BODY_SIZE applies). */
export function checkSize (r: SourceReporter, value: unknown, at: Key[]): Checked<number | undefined> {
  if (value === undefined) return undefined
  if (typeof value !== 'string') return BAD // reported by the schema
  const bytes = parseSize(value)
  if (typeof bytes === 'number') return bytes
  r.at(at, `${label(at)}: ${bytes}, got ${JSON.stringify(value)}`)
  return BAD
}

export function checkDuration (r: SourceReporter, text: string, at: Key[]): Checked<number> {
  const ms = parseDuration(text)
  if (ms !== null) return ms
  const problem = !DURATION_RE.test(text)
    ? 'must be a duration like 250ms, 5s, 1m, 2h or 1d'
    : /^0+[a-z]+$/.test(text) ? 'must be more than zero' : 'is too large'
  r.at(at, `${label(at)}: ${problem}, got ${JSON.stringify(text)}`)
  return BAD
}

/** `auth` of a mapping (a route or defaults); schema errors are already reported. */
export function checkAuth (owner: unknown, fallback: Checked<AuthMode>): Checked<AuthMode> {
  const auth = isRecord(owner) ? owner.auth : undefined
  if (auth === undefined) return fallback
  return typeof auth === 'string' && AUTH_MODES.includes(auth) ? auth as AuthMode : BAD
}

/** undefined: not set (inherit); null: `off`/`false`. */
export function checkRateLimit (r: SourceReporter, value: unknown, at: Key[]): Checked<RateLimitPolicy | null> | undefined {
  if (value === undefined) return undefined
  if (value === 'off' || value === false) return null
  if (!isRecord(value)) {
    r.at(at, `${label(at)}: must be a mapping { limit, window, by, mode } or off, got ${describe(value)}`)
    return BAD
  }
  const shapeOk = r.schema(RateLimitSchema, value, at)
  const windowMs = typeof value.window === 'string' ? checkDuration(r, value.window, [...at, 'window']) : BAD
  if (!shapeOk || windowMs === BAD) return BAD
  const v = value as { limit: number, by: RateLimitPolicy['by'], mode?: RateLimitPolicy['mode'] }
  return Object.freeze({ limit: v.limit, windowMs, by: v.by, mode: v.mode ?? 'batched' })
}

export function checkPath (r: SourceReporter, path: unknown, at: Key[]): Checked<RoutePattern> {
  if (typeof path !== 'string') return BAD
  const parsed = parseRoutePath(path)
  if (typeof parsed !== 'string') return parsed
  r.at(at, `${label(at)}: ${JSON.stringify(path)} ${parsed}`)
  return BAD
}

const ALL_METHODS: readonly HttpMethod[] = Object.freeze([...HTTP_METHODS])

/** Methods in HTTP_METHODS order (so route ids are stable); omitted means all of them (one shared list). */
export function checkMethods (r: SourceReporter, methods: unknown, at: Key[]): Checked<readonly HttpMethod[]> {
  if (methods === undefined) return ALL_METHODS
  if (!Array.isArray(methods) || methods.length === 0) return BAD
  const known = new Set<string>(HTTP_METHODS)
  const listed = new Set<string>()
  let ok = true
  for (const [j, m] of methods.entries()) {
    if (typeof m !== 'string' || !known.has(m)) ok = false // reported by the schema
    else if (listed.has(m)) {
      r.at([...at, j], `${label([...at, j])}: ${m} is listed twice`)
      ok = false
    }
    listed.add(String(m))
  }
  return ok ? HTTP_METHODS.filter((m) => listed.has(m)) : BAD
}

export function checkUpstreamRef (r: SourceReporter, name: unknown, at: Key[],
  upstreams: Map<string, Checked<CompiledUpstream>>): Checked<CompiledUpstream> {
  if (typeof name !== 'string') return BAD
  const upstream = upstreams.get(name)
  if (upstream !== undefined) return upstream // BAD when the upstream itself was reported
  const known = [...upstreams.keys()]
  r.at(at, `${label(at)}: unknown upstream ${JSON.stringify(name)} (${known.length === 0 ? 'none defined' : `defined: ${known.join(', ')}`})`)
  return BAD
}

/** The gateway serves RESERVED_PREFIXES itself: no route may match them or anything below them. */
export function checkReserved (r: SourceReporter, pattern: RoutePattern, path: string, at: Key[]): boolean {
  const hit = RESERVED.find((res) => patternsOverlap(pattern, res.pattern))
  if (hit === undefined) return true
  r.at(at, `${label(at)}: ${JSON.stringify(path)} would shadow the gateway's own ${hit.prefix} endpoints (reserved: ${RESERVED_PREFIXES.join(', ')})`)
  return false
}
