// Reads routes.yaml, checks it, and compiles it into a frozen RouteTable. Every problem found is
// reported (not only the first) as FILE:LINE:COLUMN at the offending key or value, or at the nearest
// enclosing node when a key is missing: YAML syntax, schema (route-map-schema.ts), durations, upstream
// URLs and names, unknown upstreams, scopes without auth, overlapping routes, reserved paths.
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Settings } from 'typebox/system'
import { Value } from 'typebox/value'
import { FAILSAFE_SCHEMA, Type as YamlType, load as loadYaml, type State as YamlState } from 'js-yaml'
import { Document, LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml'
import { DURATION_PATTERN, parseDuration } from './duration.js'
import { isUnionMemberError, oneOfMessage } from './schema-values.js'
import {
  DEFAULT_UPSTREAM_TIMEOUT, RateLimitSchema, RouteMapSchema, UPSTREAM_NAME_PATTERN,
  parseRoutePath, parseSize, parseUpstreamUrl, type RoutePattern
} from './route-map-schema.js'
import { CompiledRouteTable, OverlapIndex, methodMask, methodsOf, patternsOverlap, shapeOf } from './route-table.js'
import {
  HTTP_METHODS, RESERVED_PREFIXES, RouteMapError,
  type AuthMode, type CompiledRoute, type CompiledUpstream, type HttpMethod, type RateLimitPolicy, type RouteMapIssue,
  type RouteTable, type UpstreamTls
} from './route-types.js'

/** A value already reported as invalid: checks that depend on it are skipped, not repeated. */
const BAD = Symbol('invalid')
type Checked<T> = T | typeof BAD

const AUTH_MODES: readonly string[] = ['required', 'optional', 'none']
const DURATION_RE = new RegExp(DURATION_PATTERN)
const RESERVED = RESERVED_PREFIXES.map((prefix) => ({
  prefix, pattern: { segments: [{ kind: 'static', value: prefix.slice(1) }], wildcard: true } satisfies RoutePattern
}))

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
    text = await readFile(file, 'utf8')
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
  // fast path (issue 6): js-yaml without positions; any issue at all redoes everything below
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
  const { routes, patterns } = compileRoutes(r, map.routes, upstreams, defaults)
  if (r.issues.length > 0) throw new RouteMapError(r.sorted())
  const good = [...upstreams].filter((e): e is [string, CompiledUpstream] => e[1] !== BAD)
  return new CompiledRouteTable(routes, patterns, good, file)
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

/**
 * `ca` and `tls_verify` of an upstream (SECURITY.md H15): undefined for the default, certificates
 * verified against the system CAs. `ca` is read now, relative to the route map; a bad one is an issue.
 */
function checkTls (r: SourceReporter, def: Record<string, unknown>, origin: string, at: Key[], file: string): Checked<UpstreamTls | undefined> {
  const { ca, tls_verify: verify } = def
  if (ca === undefined && verify === undefined) return undefined
  if ((ca !== undefined && typeof ca !== 'string') || (verify !== undefined && typeof verify !== 'boolean')) return BAD // schema
  if (!origin.startsWith('https:')) {
    const key = ca !== undefined ? 'ca' : 'tls_verify'
    r.at([...at, key], `${label([...at, key])}: applies to https: upstreams only`, 'key')
    return BAD
  }
  if (ca !== undefined && verify === false) {
    r.at([...at, 'tls_verify'], `${label([...at, 'tls_verify'])}: false would ignore ca; keep one of them`, 'key')
    return BAD
  }
  if (ca === undefined) return verify === false ? Object.freeze({ ca: undefined, caFile: undefined, verify: false }) : undefined
  const caFile = resolve(dirname(file), ca)
  const pem = readCaBundle(caFile)
  if (pem.problem !== undefined) {
    r.at([...at, 'ca'], `${label([...at, 'ca'])}: ${JSON.stringify(ca)} ${pem.problem}`)
    return BAD
  }
  return Object.freeze({ ca: pem.text, caFile, verify: true })
}

/** The certificates of a PEM bundle, each one parsed to be sure, or what is wrong with the file. */
function readCaBundle (path: string): { text: string, problem?: undefined } | { problem: string } {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : String(code)
    return { problem: `cannot be read: ${why} (${path})` }
  }
  const certs = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []
  if (certs.length === 0) return { problem: `holds no PEM certificate (${path})` }
  for (const pem of certs) {
    try {
      void new X509Certificate(pem)
    } catch {
      return { problem: `holds a certificate that cannot be parsed (${path})` }
    }
  }
  return { text: certs.join('\n') + '\n' }
}

function sameTls (a: UpstreamTls | undefined, b: UpstreamTls | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.verify === b.verify && a.ca === b.ca)
}

/** `body_limit` of a route: undefined when not set (MAX_BODY_SIZE applies). */
function checkSize (r: SourceReporter, value: unknown, at: Key[]): Checked<number | undefined> {
  if (value === undefined) return undefined
  if (typeof value !== 'string') return BAD // reported by the schema
  const bytes = parseSize(value)
  if (typeof bytes === 'number') return bytes
  r.at(at, `${label(at)}: ${bytes}, got ${JSON.stringify(value)}`)
  return BAD
}

function checkDuration (r: SourceReporter, text: string, at: Key[]): Checked<number> {
  const ms = parseDuration(text)
  if (ms !== null) return ms
  const problem = !DURATION_RE.test(text)
    ? 'must be a duration like 250ms, 5s, 1m, 2h or 1d'
    : /^0+[a-z]+$/.test(text) ? 'must be more than zero' : 'is too large'
  r.at(at, `${label(at)}: ${problem}, got ${JSON.stringify(text)}`)
  return BAD
}

/** `auth` of a mapping (a route or defaults); schema errors are already reported. */
function checkAuth (owner: unknown, fallback: Checked<AuthMode>): Checked<AuthMode> {
  const auth = isRecord(owner) ? owner.auth : undefined
  if (auth === undefined) return fallback
  return typeof auth === 'string' && AUTH_MODES.includes(auth) ? auth as AuthMode : BAD
}

/** undefined: not set (inherit); null: `off`/`false`. */
function checkRateLimit (r: SourceReporter, value: unknown, at: Key[]): Checked<RateLimitPolicy | null> | undefined {
  if (value === undefined) return undefined
  if (value === 'off' || value === false) return null
  if (!isRecord(value)) {
    r.at(at, `${label(at)}: must be a mapping { limit, window, by } or off, got ${describe(value)}`)
    return BAD
  }
  const shapeOk = r.schema(RateLimitSchema, value, at)
  const windowMs = typeof value.window === 'string' ? checkDuration(r, value.window, [...at, 'window']) : BAD
  if (!shapeOk || windowMs === BAD) return BAD
  const v = value as { limit: number, by: RateLimitPolicy['by'] }
  return Object.freeze({ limit: v.limit, windowMs, by: v.by })
}

interface Defaults { auth: Checked<AuthMode>, rateLimit: Checked<RateLimitPolicy | null> }

function compileRoutes (r: SourceReporter, value: unknown, upstreams: Map<string, Checked<CompiledUpstream>>,
  defaults: Defaults): { routes: CompiledRoute[], patterns: RoutePattern[] } {
  const routes: CompiledRoute[] = []
  const patterns: RoutePattern[] = []
  if (!Array.isArray(value)) return { routes, patterns }
  const index = new OverlapIndex()
  const seen: Array<{ path: string, shape: string, mask: number }> = []
  for (const [i, raw] of value.entries()) {
    const at: Key[] = ['routes', i]
    if (!isRecord(raw)) continue // reported by the schema
    const before = r.issues.length
    const pattern = checkPath(r, raw.path, [...at, 'path'])
    const methods = checkMethods(r, raw.methods, [...at, 'methods'])
    const upstream = checkUpstreamRef(r, raw.upstream, [...at, 'upstream'], upstreams)
    const auth = checkAuth(raw, defaults.auth)
    const scopes = Array.isArray(raw.scopes) ? [...new Set(raw.scopes as string[])] : raw.scopes === undefined ? [] : BAD
    // scopes on an anonymous route could never be satisfied by an anonymous request: refuse them
    if (auth !== BAD && auth !== 'required' && scopes !== BAD && scopes.length > 0) {
      const from = raw.auth === undefined ? ' (from defaults)' : ''
      r.at([...at, 'scopes'], `${label(at)}.scopes: scopes need auth: required; this route has auth: ${auth}${from}`, 'key')
    }
    const own = checkRateLimit(r, raw.rate_limit, [...at, 'rate_limit'])
    const rateLimit = own === undefined ? defaults.rateLimit : own
    if (auth === 'none' && rateLimit !== BAD && rateLimit !== null && rateLimit.by !== 'ip') {
      if (own !== undefined) {
        r.at([...at, 'rate_limit', 'by'], `${label(at)}.rate_limit.by: ${rateLimit.by} needs an authenticated caller; this route has auth: none (use by: ip)`)
      } else {
        r.at([...at, 'auth'], `${label(at)}: auth: none but the default rate_limit is by ${rateLimit.by}; give this route a rate_limit by ip, or off`)
      }
    }
    const forwardToken = raw.forward_token ?? true
    const bodyLimit = checkSize(r, raw.body_limit, [...at, 'body_limit'])
    // a route shadowing a reserved path is reported once, not again as overlapping its neighbours
    if (pattern !== BAD && checkReserved(r, pattern, raw.path as string, [...at, 'path'])) {
      if (methods !== BAD) {
        const mask = methodMask(methods)
        const shape = shapeOf(pattern)
        // different methods may share a path (GET /a/* next to POST /a/:id); the same method may not
        const clash = index.add(pattern, i).find((j) => (seen[j]!.mask & mask) !== 0)
        if (clash !== undefined) {
          const other = seen[clash]!
          const on = methodsOf(mask & other.mask).join(', ')
          const where = `the route at line ${r.lineOf(['routes', clash])} (${JSON.stringify(other.path)})`
          r.at([...at, 'path'], other.shape === shape
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
  return { routes, patterns }
}

function checkPath (r: SourceReporter, path: unknown, at: Key[]): Checked<RoutePattern> {
  if (typeof path !== 'string') return BAD
  const parsed = parseRoutePath(path)
  if (typeof parsed !== 'string') return parsed
  r.at(at, `${label(at)}: ${JSON.stringify(path)} ${parsed}`)
  return BAD
}

/** Methods in HTTP_METHODS order (so route ids are stable); omitted means all of them. */
function checkMethods (r: SourceReporter, methods: unknown, at: Key[]): Checked<HttpMethod[]> {
  if (methods === undefined) return [...HTTP_METHODS]
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

function checkUpstreamRef (r: SourceReporter, name: unknown, at: Key[],
  upstreams: Map<string, Checked<CompiledUpstream>>): Checked<CompiledUpstream> {
  if (typeof name !== 'string') return BAD
  const upstream = upstreams.get(name)
  if (upstream !== undefined) return upstream // BAD when the upstream itself was reported
  const known = [...upstreams.keys()]
  r.at(at, `${label(at)}: unknown upstream ${JSON.stringify(name)} (${known.length === 0 ? 'none defined' : `defined: ${known.join(', ')}`})`)
  return BAD
}

/** The gateway serves RESERVED_PREFIXES itself: no route may match them or anything below them. */
function checkReserved (r: SourceReporter, pattern: RoutePattern, path: string, at: Key[]): boolean {
  const hit = RESERVED.find((res) => patternsOverlap(pattern, res.pattern))
  if (hit === undefined) return true
  r.at(at, `${label(at)}: ${JSON.stringify(path)} would shadow the gateway's own ${hit.prefix} endpoints (reserved: ${RESERVED_PREFIXES.join(', ')})`)
  return false
}

// --- positions: a path of keys/indexes in the YAML document -> line:column

type Key = string | number

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `routes[0].methods[1]` for ['routes', 0, 'methods', 1]. */
function label (path: readonly Key[]): string {
  if (path.length === 0) return 'the route map'
  return path.map((k, i) => typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`).join('')
}

function describe (v: unknown): string {
  if (Array.isArray(v)) return 'a list'
  if (isRecord(v)) return 'a mapping'
  if (v === null) return 'nothing'
  const text = JSON.stringify(v)
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

interface SchemaError { keyword: string, instancePath: string, schemaPath: string, params: Record<string, unknown>, message: string }

class SourceReporter {
  readonly issues: RouteMapIssue[] = []
  constructor (readonly file: string, readonly doc: Document, readonly lines: LineCounter) {}

  /** Reports at the node for `path` (its key with where='key'), or the nearest enclosing node. */
  at (path: readonly Key[], message: string, where: 'key' | 'value' = 'value'): void {
    this.atOffset(this.#offset(path, where), message)
  }

  atOffset (offset: number, message: string): void {
    const { line, col } = this.lines.linePos(offset)
    this.issues.push({ file: this.file, line: Math.max(1, line), column: Math.max(1, col), message })
  }

  lineOf (path: readonly Key[]): number {
    return Math.max(1, this.lines.linePos(this.#offset(path, 'value')).line)
  }

  /** Validates `value` (found at `base`) against a schema, reporting each error; returns whether valid. */
  schema (schema: TSchema, value: unknown, base: readonly Key[]): boolean {
    if (checker(schema).Check(value)) return true // compiled: fast on big valid maps
    const errors = allErrors(schema, value)
    for (const e of errors) {
      const path = [...base, ...pointerPath(e.instancePath, value)]
      if (e.keyword === 'boolean') continue // an unknown key: also reported as additionalProperties
      if (e.keyword === 'additionalProperties') {
        const allowed = Object.keys((schemaAt(schema, e.schemaPath)?.properties ?? {}) as object)
        for (const name of e.params.additionalProperties as string[]) {
          this.at([...path, name], `${label([...path, name])}: unknown key (expected one of ${allowed.join(', ')})`, 'key')
        }
      } else if (e.keyword === 'required') {
        for (const name of e.params.requiredProperties as string[]) {
          this.at(path, `${label(path)}: missing required key "${name}"`)
        }
      } else {
        if (isUnionMemberError(e, (p) => schemaAt(schema, p))) continue // the union's own error names every value
        const node = schemaAt(schema, e.schemaPath)
        const own = node?.errorMessage
        const got = valueAt(value, path.slice(base.length))
        this.at(path, `${label(path)}: ${typeof own === 'string' ? own : oneOfMessage(node) ?? e.message}, got ${describe(got)}`)
      }
    }
    return errors.length === 0
  }

  /** Issues sorted by position, exact duplicates dropped. */
  sorted (): RouteMapIssue[] {
    const unique = new Map(this.issues.map((i) => [`${i.line}:${i.column} ${i.message}`, i]))
    return [...unique.values()].sort((a, b) => a.line - b.line || a.column - b.column)
  }

  #offset (path: readonly Key[], where: 'key' | 'value'): number {
    let node: unknown = this.doc.contents
    let offset = startOf(node) ?? 0
    for (const [i, key] of path.entries()) {
      if (isAlias(node)) node = node.resolve(this.doc)
      let next: unknown
      if (isMap(node)) {
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(key))
        if (pair === undefined) break
        const last = i === path.length - 1
        if ((last && where === 'key') || pair.value == null) return startOf(pair.key) ?? offset
        next = pair.value
      } else if (isSeq(node)) {
        next = node.items[Number(key)]
      }
      const start = startOf(next)
      if (start === undefined) break
      node = next
      offset = start
    }
    return offset
  }
}

const checkers = new Map<TSchema, ReturnType<typeof Compile>>()
function checker (schema: TSchema): ReturnType<typeof Compile> {
  let c = checkers.get(schema)
  if (c === undefined) checkers.set(schema, c = Compile(schema))
  return c
}

/** Every schema error, not TypeBox's default first 8 (the global limit is restored at once). */
function allErrors (schema: TSchema, value: unknown): SchemaError[] {
  const previous = Settings.Get().maxErrors
  Settings.Set({ maxErrors: 10_000 })
  try {
    return Value.Errors(schema, value) as unknown as SchemaError[]
  } finally {
    Settings.Set({ maxErrors: previous })
  }
}

function startOf (node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range
  return range?.[0]
}

/** JSON pointer -> keys, numbers where the data is a list. */
function pointerPath (pointer: string, data: unknown): Key[] {
  if (pointer === '') return []
  const out: Key[] = []
  let cur = data
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    const k: Key = Array.isArray(cur) ? Number(key) : key
    out.push(k)
    cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<Key, unknown>)[k] : undefined
  }
  return out
}

function valueAt (data: unknown, path: readonly Key[]): unknown {
  let cur = data
  for (const k of path) cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<Key, unknown>)[k] : undefined
  return cur
}

/** The sub-schema at a schemaPath like `#/properties/routes/items`. */
function schemaAt (schema: TSchema, schemaPath: string): Record<string, unknown> | undefined {
  let cur: unknown = schema
  for (const raw of schemaPath.replace(/^#\/?/, '').split('/')) {
    if (raw === '') continue
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<string, unknown>)[key] : undefined
  }
  return isRecord(cur) ? cur : undefined
}

// --- the fast path: js-yaml, no positions (issue 6: a 10,000-route map in well under 300 ms)
//
// `yaml` (YAML 1.2, core schema) stays the reference: the fast path is taken only for text where
// js-yaml provably reads the same data, and it only ever *accepts* a map. Any issue at all (a
// reporter call) throws NEEDS_POSITIONS and the exact path re-parses with `yaml` for positions,
// so every error message stays exactly what it was. The fast path gives up (undefined) on:
// - directives (`%YAML 1.1` would turn `yes`/`on` into booleans), anchors and aliases (alias
//   limits), explicit `?` keys and flow collections used as keys (stringified differently);
// - plain scalars `yaml` reads as numbers other than plain decimal integers (octal, hex, floats,
//   .inf, .nan, leading zeros or signs);
// - anything js-yaml refuses (duplicate keys, unknown tags, several documents, syntax).
// Plain scalars are otherwise resolved exactly as YAML 1.2 core does: ~/null/Null/NULL/empty,
// true/True/TRUE/false/False/FALSE, decimal integers; everything else, `off` included, a string.

const NEEDS_POSITIONS = Symbol('needs positions')

const FAST_BAIL_TEXT = [
  /^%/m, // a directive
  /(?:^|[\s,[{])\?(?:\s|$)/m, // an explicit key indicator
  /^[ \t]*(?:-[ \t]+)*[[{].*[\]}][ \t]*:(?:\s|$)/m, // a flow collection as a block key
  /[[{,]\s*[[{]/ // a flow collection inside a flow collection (possibly a key)
]

const same = (tag: string, test: RegExp, construct: (s: string) => unknown): YamlType =>
  new YamlType(tag, { kind: 'scalar', resolve: (s: string) => test.test(s), construct })
const bail = (): never => { throw NEEDS_POSITIONS }
const FAST_SCHEMA = FAILSAFE_SCHEMA.extend({
  implicit: [
    same('tag:yaml.org,2002:null', /^(?:~|[Nn]ull|NULL)?$/, () => null),
    same('tag:yaml.org,2002:bool', /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s === 'true' || s === 'True' || s === 'TRUE'),
    same('tag:yaml.org,2002:int', /^(?:0|[1-9][0-9]{0,14})$/, Number),
    // every other plain scalar YAML 1.2 core reads as a number (yaml's own int and float tests)
    same('tag:portcullis,2026:bail', /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$/, bail)
  ]
})

/** Route-map data when js-yaml reads exactly what `yaml` would; undefined: use the exact path. */
export function parseFast (text: string): unknown {
  if (FAST_BAIL_TEXT.some((re) => re.test(text))) return undefined
  let anchored = false
  try {
    const data = loadYaml(text, {
      schema: FAST_SCHEMA,
      json: false, // duplicate keys throw
      listener (event: 'open' | 'close', state: YamlState) {
        if (event === 'close' && (state as YamlState & { anchor: string | null }).anchor != null) anchored = true
      }
    })
    return anchored || data == null ? undefined : data
  } catch {
    return undefined
  }
}

/** A reporter for the fast path: the first issue of any kind sends the map to the exact path. */
class FastReporter extends SourceReporter {
  constructor (file: string) { super(file, new Document(), new LineCounter()) }
  override at (): void { throw NEEDS_POSITIONS }
  override atOffset (): void { throw NEEDS_POSITIONS }
  override lineOf (): number { throw NEEDS_POSITIONS }
}
