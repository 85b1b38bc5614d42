// Property: compileRouteMap(text, file) over any text, any YAML and any structure never throws
// anything but RouteMapError, and every issue it reports points at a real position (line ≥ 1,
// column ≥ 1, integers) with a message (issue 5 point 2: no 5xx, no crash from any input).
// And the compiled table's own router answers every path as find-my-way, its router until issue 10,
// did (percent-decoding, `?`/`#`, empty and long segments, backtracking).
import fc from 'fast-check'
import Router from 'find-my-way'
import t from 'tap'
import { stringify } from 'yaml'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import { parseRoutePath, type RoutePattern } from '../../src/config/route-path.js'
import { CompiledRouteTable, methodMask, patternsOverlap } from '../../src/config/route-table.js'
import { HTTP_METHODS, RouteMapError, type CompiledRoute, type HttpMethod, type RouteLookup } from '../../src/config/route-types.js'
import { runs } from './settings.js'

function check (text: string): true {
  try {
    compileRouteMap(text, 'routes.yaml')
    return true
  } catch (err) {
    if (!(err instanceof RouteMapError)) throw new Error(`threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`)
    if (err.issues.length === 0) throw new Error('RouteMapError without issues')
    for (const i of err.issues) {
      if (!Number.isInteger(i.line) || i.line < 1 || !Number.isInteger(i.column) || i.column < 1) {
        throw new Error(`bad position ${i.line}:${i.column} for "${i.message}"`)
      }
      if (typeof i.message !== 'string' || i.message === '') throw new Error('empty issue message')
      if (i.file !== 'routes.yaml') throw new Error(`issue names file ${i.file}`)
    }
    return true
  }
}

/** Any value as YAML text; values YAML cannot represent (stringify(undefined) is no text) are dropped. */
function asYaml (values: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return values.map((value) => {
    try {
      const text: unknown = stringify(value)
      return typeof text === 'string' ? text : null
    } catch {
      return null
    }
  }).filter((text): text is string => text !== null)
}

const fragments = fc.constantFrom(
  'version: 1', 'version: 2', 'upstreams:', '  a: { url: http://127.0.0.1:1, timeout: 5s }', '  a:', '    url: http://x',
  'routes:', '  - path: /a/*', '  - path: /:x', '    upstream: a', '    scopes: [read]', '    auth: none', '    methods: [GET, get]',
  '    rate_limit: { limit: 1, window: 1m, by: ip }', '    rate_limit: off', 'defaults:', '  auth: optional',
  ':', '- ', '-', '&a x', '*a', '<<: *a', '!!binary aGk=', '!!js/function x', '? complex', '{', '}', '[', ']', '"', "'", '#',
  '\t', '%YAML 1.2', '---', '...', '|', '>-', '\u00a0', '\ufeff', '\u2028', 'key: "\\u0000"', '  '.repeat(40) + 'deep: 1'
)

/** Values shaped like a route map, with every leaf possibly wrong. */
const leaf = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }))
const path = fc.oneof(fc.constantFrom('/a/*', '/a/:id', '/', '/*', '/oauth/x', '/:p/x', '/a//b', '/a/*/b', '*', 'a', '/a/:', '/%2e/x'), fc.string())
const duration = fc.oneof(fc.constantFrom('5s', '250ms', '1m', '0s', '-1s', '1.5s', '10d', '99999999999h'), fc.string(), fc.integer())
const structured = fc.record({
  version: fc.oneof(fc.constant(1), leaf),
  upstreams: fc.oneof(fc.dictionary(fc.constantFrom('a', 'b', '__proto__', 'constructor', ''), fc.record({
    url: fc.oneof(fc.constantFrom('http://127.0.0.1:1', 'https://h/base', 'ftp://x', 'http://u:p@h', 'http://h?q', 'http://h#f', ''), fc.string()),
    timeout: duration,
    extra: leaf
  }, { requiredKeys: [] })), leaf),
  defaults: fc.record({ auth: fc.oneof(fc.constantFrom('required', 'optional', 'none'), leaf), rate_limit: leaf }, { requiredKeys: [] }),
  routes: fc.oneof(fc.array(fc.record({
    path,
    upstream: fc.oneof(fc.constantFrom('a', 'b', 'missing'), leaf),
    methods: fc.oneof(fc.array(fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'get', 'TRACE', 'CONNECT'), fc.string())), leaf),
    scopes: fc.oneof(fc.array(fc.oneof(fc.constantFrom('read', 'a b', ''), fc.string())), leaf),
    auth: fc.oneof(fc.constantFrom('required', 'optional', 'none'), leaf),
    rate_limit: fc.oneof(fc.constant('off'), fc.record({ limit: leaf, window: duration, by: fc.oneof(fc.constantFrom('subject', 'client', 'ip'), leaf) }, { requiredKeys: [] }), leaf),
    forward_token: leaf
  }, { requiredKeys: [] }), { maxLength: 6 }), leaf)
}, { requiredKeys: [] })

t.test('any text', async (t) => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), check), runs(200))
  t.pass('compileRouteMap threw only RouteMapError with positions ≥ 1:1 on random text')
})

t.test('YAML-ish text: lines of route-map and YAML syntax fragments, randomly indented', async (t) => {
  const line = fc.tuple(fc.nat({ max: 6 }), fragments).map(([indent, f]) => ' '.repeat(indent) + f)
  fc.assert(fc.property(fc.array(line, { maxLength: 30 }).map((ls) => ls.join('\n')), check), runs(200))
  t.pass('compileRouteMap threw only RouteMapError with positions ≥ 1:1 on YAML fragments')
})

t.test('any JSON value rendered as YAML', async (t) => {
  fc.assert(fc.property(asYaml(fc.jsonValue({ maxDepth: 4 })), check), runs(150))
  t.pass('compileRouteMap handled any JSON value')
})

t.test('anything (undefined, NaN, -0, sparse arrays, odd keys) rendered as YAML', async (t) => {
  fc.assert(fc.property(asYaml(fc.anything({ maxDepth: 3, withNullPrototype: true, withBigInt: true, withBoxedValues: true, withSparseArray: true })), check), runs(150))
  t.pass('compileRouteMap handled fc.anything() as YAML')
})

t.test('structures shaped like a route map, any leaf wrong', async (t) => {
  fc.assert(fc.property(asYaml(structured), check), runs(200))
  t.pass('compileRouteMap handled route-map-shaped structures')
})

// --- the table's trie (src/config/route-trie.ts) against find-my-way, configured as the table had it

/** What find-my-way answered: one router per method, positional parameters, `/a/*` also at `/a`. */
function findMyWayLookup (routes: readonly CompiledRoute[], patterns: readonly RoutePattern[]): (method: string, path: string) => string {
  const routers = new Map<string, ReturnType<typeof Router>>()
  for (const [i, r] of routes.entries()) {
    const p = patterns[i]!
    let n = 0
    const base = '/' + p.segments.map((s) => s.kind === 'param' ? `:p${n++}` : s.value.replaceAll(':', '::')).join('/')
    const paths = !p.wildcard ? [[base, false]] as const : base === '/' ? [['/*', false]] as const : [[`${base}/*`, false], [base, true]] as const
    for (const m of r.methods) {
      const router = routers.get(m) ?? Router({ ignoreTrailingSlash: false, caseSensitive: true, ignoreDuplicateSlashes: false, maxParamLength: 1 << 20 })
      routers.set(m, router)
      for (const [path, prefix] of paths) router.on(m, path, () => {}, { i, prefix })
    }
  }
  const hit = (m: string, path: string): string | null => {
    const found = routers.get(m)?.find(m as HttpMethod, path)
    if (found == null) return null
    const { i, prefix } = found.store as { i: number, prefix: boolean }
    const raw = found.params as Record<string, string>
    const names = patterns[i]!.segments.flatMap((s) => s.kind === 'param' ? [s.name] : [])
    if (names.some((_, k) => raw[`p${k}`] === '')) return null // our params never match an empty segment
    const params = Object.create(null) as Record<string, string> // a parameter may be called __proto__
    names.forEach((name, k) => { params[name] = raw[`p${k}`]! })
    if (patterns[i]!.wildcard) params['*'] = prefix ? '' : raw['*']!
    return `${routes[i]!.id} ${JSON.stringify(params)}`
  }
  return (method, path) => {
    if (path.charCodeAt(0) !== 47) return '404'
    const own = hit(method, path)
    if (own !== null) return own
    const allow = HTTP_METHODS.filter((m) => hit(m, path) !== null)
    return allow.length > 0 ? `405 ${allow.join(',')}` : '404'
  }
}

function show (r: RouteLookup): string {
  if (r.kind === 'match') return `${r.route.id} ${JSON.stringify({ ...r.params })}`
  return r.kind === 'method_not_allowed' ? `405 ${r.allow.join(',')}` : '404'
}

const routeSegment = fc.constantFrom('a', 'b', 'a:b', 'x.y', '@', ':id', ':__proto__', ':q')
const routeDef = fc.record({
  segs: fc.array(routeSegment, { maxLength: 3 }),
  wildcard: fc.boolean(),
  methods: fc.subarray(['GET', 'HEAD', 'POST', 'DELETE'] as HttpMethod[], { minLength: 1 })
})
const pathSegment = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'b', 'a:b', 'x.y', '@'), weight: 3 },
  { arbitrary: fc.constantFrom('z', '', '%61', 'a%2Fb', '%2f', '%25', '%2525', '%3F', 'a%3Ab', '%40', '%E2%82%AC', '%', '%zz', '%C0%AF', '%E0%A4%A', '..', 'é'), weight: 2 })
const requestPath = fc.tuple(fc.array(pathSegment, { maxLength: 5 }), fc.constantFrom('', '', '/', '?x=1', '?a/b', '#f', '%3Fq', ';p'))
  .map(([segs, tail]) => `/${segs.join('/')}${tail}`)

t.test('the table answers every path as find-my-way did', async (t) => {
  const kinds = { match: 0, decoded: 0, method_not_allowed: 0, not_found: 0 }
  fc.assert(fc.property(fc.array(routeDef, { maxLength: 8 }), fc.array(requestPath, { minLength: 1, maxLength: 30 }), (defs, paths) => {
    const up = Object.freeze({ name: 'u', origin: 'http://h', basePath: '', timeoutMs: 1 })
    const routes: CompiledRoute[] = []
    const patterns: RoutePattern[] = []
    for (const d of defs) {
      const names = new Set<string>()
      const segs = d.segs.filter((s) => !s.startsWith(':') || (!names.has(s) && names.add(s)))
      const path = '/' + [...segs, ...d.wildcard ? ['*'] : []].join('/')
      const p = parseRoutePath(path)
      if (typeof p === 'string') throw new Error(`${path}: ${p}`)
      const mask = methodMask(d.methods)
      if (routes.some((r, j) => (methodMask(r.methods) & mask) !== 0 && patternsOverlap(patterns[j]!, p))) continue
      routes.push(Object.freeze({ id: `${d.methods.join(',')} ${path}`, path, methods: d.methods, upstream: up, auth: 'required', scopes: [], rateLimit: null, forwardToken: true }))
      patterns.push(p)
    }
    const table = new CompiledRouteTable(routes, patterns, [], 'random')
    const expected = findMyWayLookup(routes, patterns)
    for (const path of [...paths, '/', `/a/${'x'.repeat((1 << 20) + 1)}`]) {
      for (const method of [...HTTP_METHODS, 'BREW']) {
        const found = table.lookup(method, path)
        kinds[found.kind]++
        if (found.kind === 'match' && path.includes('%') && /[/%?:@]/.test(Object.values(found.params).join(''))) kinds.decoded++
        const got = show(found)
        const want = expected(method, path)
        if (got !== want) throw new Error(`${method} ${path.slice(0, 60)}: ${got}, find-my-way ${want}; routes ${routes.map((r) => r.id).join(' | ')}`)
      }
    }
  }), runs(100))
  t.ok(kinds.match > 300 && kinds.decoded > 10 && kinds.method_not_allowed > 300 && kinds.not_found > 300, `lookups agree: ${JSON.stringify(kinds)}`)
})
