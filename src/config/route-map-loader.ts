// Reads routes.yaml, checks it, and compiles it into a frozen RouteTable. Every problem found is
// reported (not only the first) as FILE:LINE:COLUMN at the offending key or value, or at the nearest
// enclosing node when a key is missing: YAML syntax, schema (route-map-schema.ts), durations, upstream
// URLs and names, unknown upstreams, scopes without auth, overlapping routes, reserved paths.
import { readFileSync } from 'node:fs'
import { LineCounter, parseDocument } from 'yaml'
import {
  DEFAULT_UPSTREAM_TIMEOUT, RouteMapSchema, SCOPE_TOKEN_PATTERN, UPSTREAM_NAME_PATTERN,
  parseUpstreamUrl, type RoutePattern
} from './route-map-schema.js'
import { FastReporter, NEEDS_POSITIONS, parseFast } from './route-map-fast-parse.js'
import { BAD, SourceReporter, isRecord, label, type Checked, type Key } from './route-map-reporter.js'
import { checkAuth, checkDuration, checkMethods, checkPath, checkRateLimit, checkReserved, checkSize, checkUpstreamRef } from './route-map-fields.js'
import { checkTls, sameTls } from './route-map-upstream-tls.js'
import { OverlapIndex, methodMask, methodsOf, shapeOf } from './route-overlap.js'
import { CompiledRouteTable } from './route-table.js'
import {
  RouteMapError,
  type AuthMode, type CompiledRoute, type CompiledUpstream, type RateLimitPolicy,
  type RouteTable, type UpstreamTls
} from './route-types.js'

export { parseFast } from './route-map-fast-parse.js'

const SCOPE_TOKEN_RE = new RegExp(SCOPE_TOKEN_PATTERN)

/** How a caller adjusts a valid map while compiling it. */
export interface CompileOptions {
  /**
   * Maps each upstream's origin (`http://127.0.0.1:9001`) to the one actually used. Dev mode only:
   * `portcullis dev` moves the bundled map's demo upstream to DEMO_UPSTREAM_PORT (src/dev/dev-mode.ts).
   */
  upstreamOrigin?: (origin: string) => string
}

/** Reads, checks and compiles a route map; throws RouteMapError listing every problem. */
export async function loadRouteTable (file: string, opts: CompileOptions = {}): Promise<RouteTable> {
  let text: string
  try {
    // synchronous: ~1 ms for a 10,000-route file (1.3 MB) from the page cache, and the compile that
    // follows holds the event loop anyway; fs/promises took one event-loop turn per step (open, stat,
    // three 512 KB reads, close), each turn serving every connection's pending requests first: under
    // load the reload of that file waited tens of ms before its compile began (bench/README.md)
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : String((err as Error).message)
    throw new RouteMapError([{ file, line: 1, column: 1, message: `cannot read the route map: ${why}` }])
  }
  return compileRouteMap(text, file, opts)
}

/**
 * Checks and compiles route-map text (synchronous); `file` labels the issues and anchors relative
 * `ca:` paths, the only files read here.
 */
export function compileRouteMap (text: string, file: string, opts: CompileOptions = {}): RouteTable {
  // fast path (issues 6, 10): the line reader or js-yaml, without positions; any issue at all redoes everything below
  const fast = parseFast(text)
  if (fast !== undefined) {
    try {
      return compileData(new FastReporter(file), fast, file, opts)
    } catch (err) {
      if (err !== NEEDS_POSITIONS) throw err
    }
  }
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const r = new SourceReporter(file, doc, lines)
  for (const e of doc.errors) r.atOffset(e.pos[0], `YAML: ${e.message.split('\n')[0]!}`)
  if (r.issues.length > 0) throw new RouteMapError(r.sorted())

  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    r.atOffset(0, `YAML: ${(err as Error).message}`)
    throw new RouteMapError(r.sorted())
  }
  return compileData(r, data, file, opts)
}

/** Schema, semantics and compilation of parsed route-map data; every issue goes to `r`. */
function compileData (r: SourceReporter, data: unknown, file: string, opts: CompileOptions): RouteTable {
  if (data == null) r.at([], 'the route map is empty (expected version, upstreams and routes)')
  else r.schema(RouteMapSchema, data, [])
  const map = isRecord(data) ? data : {}
  const upstreams = compileUpstreams(r, map.upstreams, file, opts)
  const defaults: Defaults = {
    auth: checkAuth(map.defaults, 'required'),
    rateLimit: checkRateLimit(r, isRecord(map.defaults) ? map.defaults.rate_limit : undefined, ['defaults', 'rate_limit']) ?? null
  }
  const { routes, patterns, overlaps } = compileRoutes(r, map.routes, upstreams, defaults)
  const scopes = new Map<string, string>()
  for (const [name, text] of Object.entries(isRecord(map.scopes) ? map.scopes : {})) {
    if (!SCOPE_TOKEN_RE.test(name)) r.at(['scopes', name], `scopes: ${JSON.stringify(name)} is not a scope token (RFC 6749 §3.3)`, 'key')
    else if (typeof text === 'string') scopes.set(name, text)
  }
  if (r.issues.length > 0) throw new RouteMapError(r.sorted())
  const good = [...upstreams].filter((e): e is [string, CompiledUpstream] => e[1] !== BAD)
  return new CompiledRouteTable(routes, patterns, good, file, scopes, overlaps)
}

function compileUpstreams (r: SourceReporter, value: unknown, file: string, opts: CompileOptions): Map<string, Checked<CompiledUpstream>> {
  const out = new Map<string, Checked<CompiledUpstream>>()
  if (!isRecord(value)) return out
  const tlsOfOrigin = new Map<string, { name: string, tls: UpstreamTls | undefined }>()
  for (const [name, def] of Object.entries(value)) {
    const at: Key[] = ['upstreams', name]
    let ok = true
    if (!UPSTREAM_NAME_PATTERN.test(name)) {
      r.at(at, `upstreams: ${JSON.stringify(name)} is not a valid upstream name (letters, digits, _ . -; starting with a letter)`, 'key')
      ok = false
    }
    if (!isRecord(def)) {
      out.set(name, BAD)
      continue
    }
    let url: Checked<{ origin: string, basePath: string }> = BAD
    if (typeof def.url === 'string') {
      const parsed = parseUpstreamUrl(def.url)
      if (typeof parsed === 'string') r.at([...at, 'url'], `${label([...at, 'url'])}: ${JSON.stringify(def.url)} ${parsed}`)
      else url = parsed
    }
    const timeout = def.timeout ?? DEFAULT_UPSTREAM_TIMEOUT
    const timeoutMs = typeof timeout === 'string' ? checkDuration(r, timeout, [...at, 'timeout']) : BAD
    const tls = url === BAD ? BAD : checkTls(r, def, url.origin, at, file)
    if (url !== BAD && tls !== BAD) {
      // one connection pool per origin (src/pipeline/upstream-agents.ts), so one TLS setting per origin
      const first = tlsOfOrigin.get(url.origin)
      if (first === undefined) tlsOfOrigin.set(url.origin, { name, tls })
      else if (!sameTls(first.tls, tls)) {
        r.at(at, `${label(at)}: shares the origin ${url.origin} with upstreams.${first.name} but not its ca and tls_verify settings`, 'key')
        ok = false
      }
    }
    out.set(name, ok && url !== BAD && timeoutMs !== BAD && tls !== BAD
      ? Object.freeze({ name, origin: opts.upstreamOrigin?.(url.origin) ?? url.origin, basePath: url.basePath, timeoutMs, ...(tls !== undefined && { tls }) })
      : BAD)
  }
  return out
}

interface Defaults { auth: Checked<AuthMode>, rateLimit: Checked<RateLimitPolicy | null> }

function compileRoutes (r: SourceReporter, value: unknown, upstreams: Map<string, Checked<CompiledUpstream>>,
  defaults: Defaults): { routes: CompiledRoute[], patterns: RoutePattern[], overlaps: Array<readonly number[]> } {
  const routes: CompiledRoute[] = []
  const patterns: RoutePattern[] = []
  // per route, the earlier ones it overlaps: with no issue at all, entry i of `value` is routes[i]
  const overlaps: Array<readonly number[]> = []
  if (!Array.isArray(value)) return { routes, patterns, overlaps }
  const index = new OverlapIndex()
  const seen: Array<{ path: string, shape: string, mask: number }> = []
  // (key paths written out, not spread from `at`: a reload checks 10,000 routes)
  for (let i = 0; i < value.length; i++) {
    const raw: unknown = value[i]
    const at: Key[] = ['routes', i]
    if (!isRecord(raw)) continue // reported by the schema
    const before = r.issues.length
    const pattern = checkPath(r, raw.path, ['routes', i, 'path'])
    const methods = checkMethods(r, raw.methods, ['routes', i, 'methods'])
    const upstream = checkUpstreamRef(r, raw.upstream, ['routes', i, 'upstream'], upstreams)
    const auth = checkAuth(raw, defaults.auth)
    const scopes = Array.isArray(raw.scopes) ? [...new Set(raw.scopes as string[])] : raw.scopes === undefined ? [] : BAD
    // scopes on an anonymous route could never be satisfied by an anonymous request: refuse them
    if (auth !== BAD && auth !== 'required' && scopes !== BAD && scopes.length > 0) {
      const from = raw.auth === undefined ? ' (from defaults)' : ''
      r.at(['routes', i, 'scopes'], `${label(at)}.scopes: scopes need auth: required; this route has auth: ${auth}${from}`, 'key')
    }
    const own = checkRateLimit(r, raw.rate_limit, ['routes', i, 'rate_limit'])
    const rateLimit = own === undefined ? defaults.rateLimit : own
    if (auth === 'none' && rateLimit !== BAD && rateLimit !== null && rateLimit.by !== 'ip') {
      if (own !== undefined) {
        r.at(['routes', i, 'rate_limit', 'by'], `${label(at)}.rate_limit.by: ${rateLimit.by} needs an authenticated caller; this route has auth: none (use by: ip)`)
      } else {
        r.at(['routes', i, 'auth'], `${label(at)}: auth: none but the default rate_limit is by ${rateLimit.by}; give this route a rate_limit by ip, or off`)
      }
    }
    const forwardToken = raw.forward_token ?? true
    const bodyLimit = checkSize(r, raw.body_limit, ['routes', i, 'body_limit'])
    // a route shadowing a reserved path is reported once, not again as overlapping its neighbours
    if (pattern !== BAD && checkReserved(r, pattern, raw.path as string, ['routes', i, 'path'])) {
      if (methods !== BAD) {
        const mask = methodMask(methods)
        const shape = shapeOf(pattern)
        // different methods may share a path (GET /a/* next to POST /a/:id); the same method may not
        const earlier = overlaps[i] = index.add(pattern, i)
        const clash = earlier.find((j) => (seen[j]!.mask & mask) !== 0)
        if (clash !== undefined) {
          const other = seen[clash]!
          const on = methodsOf(mask & other.mask).join(', ')
          const where = `the route at line ${r.lineOf(['routes', clash])} (${JSON.stringify(other.path)})`
          r.at(['routes', i, 'path'], other.shape === shape
            ? `${label(at)}: ${JSON.stringify(raw.path)} duplicates ${where} on ${on}`
            : `${label(at)}: ${JSON.stringify(raw.path)} overlaps ${where} on ${on}: a request could match both`)
        }
        seen[i] = { path: raw.path as string, shape, mask }
      }
    }
    if (r.issues.length > before || pattern === BAD || methods === BAD || upstream === BAD || auth === BAD ||
      scopes === BAD || rateLimit === BAD || typeof forwardToken !== 'boolean' || bodyLimit === BAD) continue
    routes.push(Object.freeze({
      id: `${methods.join(',')} ${raw.path as string}`,
      path: raw.path as string,
      methods: Object.freeze(methods),
      upstream,
      auth,
      scopes: Object.freeze(scopes),
      rateLimit,
      forwardToken,
      bodyLimit
    }))
    patterns.push(pattern)
  }
  return { routes, patterns, overlaps: r.issues.length === 0 && overlaps.length === routes.length ? overlaps : [] }
}
