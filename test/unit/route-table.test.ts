// The compiled route table: lookup and overlap checks (its version: route-version.test.ts).
import t from 'tap'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import { parseRoutePath, type RoutePattern } from '../../src/config/route-map-schema.js'
import { CompiledRouteTable, OverlapIndex, methodMask, patternsOverlap } from '../../src/config/route-table.js'
import { HTTP_METHODS, type CompiledRoute, type HttpMethod, type RouteLookup } from '../../src/config/route-types.js'

// RouteTable.lookup: static, :param and /* matching (a wildcard also matches its bare prefix), 405
// with the Allow list in HTTP_METHODS order (RFC 9110 §15.5.6, HEAD only when listed), 404, and no
// throw on any input. Randomised maps are checked against a brute-force reference matcher.

const table = compileRouteMap(`
version: 1
upstreams: { u: { url: http://h:1/api } }
routes:
  - { path: /orders/*, methods: [GET, HEAD], upstream: u }
  - { path: "/orders/:id", methods: [POST], upstream: u }
  - { path: /orders, methods: [PUT], upstream: u }
  - { path: "/a/:x/b", methods: [POST], upstream: u }
  - { path: /a/*, methods: [GET], upstream: u }
  - { path: "/shop/:tenant/items/:item", methods: [GET, DELETE], upstream: u }
  - { path: "/shop/:t/items/:i", methods: [PATCH], upstream: u }
  - { path: "/s/b:c", upstream: u }
  - { path: /, methods: [GET], upstream: u }
  - { path: "/p/:__proto__", methods: [GET], upstream: u }
  - { path: /x, methods: [OPTIONS], upstream: u }
`, 'routes.yaml')

/** `ROUTE-ID {params}`, `405 A,B` or `404`. */
function show (r: RouteLookup): string {
  if (r.kind === 'match') return `${r.route.id} ${JSON.stringify({ ...r.params })}`
  if (r.kind === 'method_not_allowed') return `405 ${r.allow.join(',')}`
  return '404'
}

const cases: Array<[string, string, string, string]> = [
  ['GET', '/orders/1/lines', 'GET,HEAD /orders/* {"*":"1/lines"}', 'a wildcard takes the rest of the path'],
  ['GET', '/orders/', 'GET,HEAD /orders/* {"*":""}', 'a wildcard takes an empty rest'],
  ['GET', '/orders', 'GET,HEAD /orders/* {"*":""}', '/orders/* also matches its bare prefix'],
  ['HEAD', '/orders', 'GET,HEAD /orders/* {"*":""}', 'HEAD matches where listed'],
  ['PUT', '/orders', 'PUT /orders {}', 'another method on the prefix goes to its own route'],
  ['POST', '/orders/7', 'POST /orders/:id {"id":"7"}', 'a param takes one segment'],
  ['GET', '/orders/7', 'GET,HEAD /orders/* {"*":"7"}', 'per method, the route with that method answers'],
  ['DELETE', '/orders/7', '405 GET,HEAD,POST', 'the Allow list unites every route matching the path'],
  ['DELETE', '/orders', '405 GET,HEAD,PUT', 'Allow includes the wildcard matching its prefix'],
  ['POST', '/orders/', '405 GET,HEAD', 'a param does not match an empty segment'],
  ['POST', '/orders/7/x', '405 GET,HEAD', 'a param does not match two segments'],
  ['POST', '/a/z/b', 'POST /a/:x/b {"x":"z"}', 'static after a param'],
  ['GET', '/a/z/b', 'GET /a/* {"*":"z/b"}', 'an overlapping wildcard of another method'],
  ['POST', '/a//b', '405 GET', 'an empty param segment is no match, the wildcard still is'],
  ['GET', '/shop/acme/items/42', 'GET,DELETE /shop/:tenant/items/:item {"tenant":"acme","item":"42"}', 'several params, named by the route'],
  ['PATCH', '/shop/acme/items/42', 'PATCH /shop/:t/items/:i {"t":"acme","i":"42"}', 'same shape, other names, other method'],
  ['PUT', '/shop/acme/items/42', '405 GET,PATCH,DELETE', 'Allow over routes of the same shape'],
  ['GET', '/shop/acme/items', '404', 'a prefix of a non-wildcard route is not a match'],
  ['GET', '/s/b:c', 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /s/b:c {}', 'a colon inside a static segment is literal'],
  ['GET', '/s/b', '404', 'the colon is not a parameter'],
  ['GET', '/', 'GET / {}', 'the root route'],
  ['HEAD', '/', '405 GET', 'no automatic HEAD for GET'],
  ['get', '/', '405 GET', 'methods are case-sensitive'],
  ['BREW', '/orders', '405 GET,HEAD,PUT', 'an unknown method gets the Allow list'],
  ['OPTIONS', '/x', 'OPTIONS /x {}', 'OPTIONS only where listed'],
  ['GET', '/x', '405 OPTIONS', 'Allow with OPTIONS only'],
  ['GET', '/p/v', 'GET /p/:__proto__ {"__proto__":"v"}', 'a parameter called __proto__ is kept'],
  ['GET', '/Orders', '404', 'matching is case-sensitive'],
  ['GET', '/ordersx', '404', 'a wildcard prefix matches whole segments'],
  ['GET', '/nowhere', '404', 'no route']
]

t.test('lookup', async (t) => {
  for (const [method, path, expected, proves] of cases) t.equal(show(table.lookup(method, path)), expected, `${proves}: ${method} ${path}`)
})

t.test('lookup never throws and refuses what is not an origin-form path', async (t) => {
  const weird = ['', 'orders', 'http://h/orders', '//h/orders', '*', '/%', '/%zz', '/orders/%', '/orders/%E0%A4%A',
    '/\u0000', '/orders/\ud800', '/🙂', '/'.repeat(10_000), '/a'.repeat(5_000), `/orders/${'x'.repeat(100_000)}`,
    `/shop/${'y'.repeat(20_000)}/items/1`, '/orders?x=1', '/orders#f', ' /orders', '/orders ', '\\orders']
  const methods = ['GET', '', 'get', 'CONNECT', '__proto__', 'constructor', 'toString', 'G\u0000ET']
  for (const path of weird) {
    for (const method of methods) t.doesNotThrow(() => table.lookup(method, path), `${method} ${path.slice(0, 20)}`)
  }
  t.equal(show(table.lookup('GET', 'http://h/orders')), '404', 'an absolute URL is not routed')
  t.equal(show(table.lookup('GET', '//h/orders')), '404', 'nor a scheme-relative one')
  t.equal(show(table.lookup('GET', '/orders/%')), '404', 'a broken percent-encoding is no match')
  t.equal(show(table.lookup('GET', `/orders/${'x'.repeat(100_000)}`)).slice(0, 18), 'GET,HEAD /orders/*', 'long paths still match')
  t.equal(show(table.lookup('DELETE', `/shop/${'y'.repeat(20_000)}/items/1`)).slice(0, 40), 'GET,DELETE /shop/:tenant/items/:item {"t', 'long params still match')
  t.equal(show(table.lookup(undefined as unknown as string, undefined as unknown as string)), '404')
})

t.test('answers are frozen and shared where nothing varies', async (t) => {
  const a = table.lookup('DELETE', '/orders/7')
  t.ok(Object.isFrozen(a))
  t.equal(a, table.lookup('DELETE', '/orders/8'), 'one 405 answer per Allow set')
  t.ok(Object.isFrozen(table.lookup('GET', '/nowhere')))
})

t.test('the table refuses routes overlapping on a shared method (defence behind the loader)', async (t) => {
  const up = Object.freeze({ name: 'u', origin: 'http://h', basePath: '', timeoutMs: 1 })
  const routes = ['/a/*', '/a/:x'].map((path) => route(path, ['GET'], up))
  t.throws(() => new CompiledRouteTable(routes, routes.map((r) => pattern(r.path)), [], 'x'),
    { name: 'TypeError', message: 'routes overlap on a shared method: GET /a/* and GET /a/:x' })
})

// --- randomised: the table, the overlap index and patternsOverlap against brute force

function pattern (path: string): RoutePattern {
  const p = parseRoutePath(path)
  if (typeof p === 'string') throw new Error(`${path}: ${p}`)
  return p
}

function route (path: string, methods: HttpMethod[], upstream: CompiledRoute['upstream']): CompiledRoute {
  return Object.freeze({ id: `${methods.join(',')} ${path}`, path, methods, upstream, auth: 'required', scopes: [], rateLimit: null, forwardToken: true })
}

/** Reference semantics: params match one non-empty segment; `/*` matches the prefix itself or `/`+anything. */
function reference (path: string, p: RoutePattern): Record<string, string> | null {
  const parts = path === '/' ? [] : path.slice(1).split('/')
  const n = p.segments.length
  if (p.wildcard ? parts.length < n : parts.length !== n) return null
  const params: Record<string, string> = {}
  for (const [i, seg] of p.segments.entries()) {
    const part = parts[i]!
    if (seg.kind === 'static' ? part !== seg.value : part === '') return null
    if (seg.kind === 'param') params[seg.name] = part
  }
  if (p.wildcard) params['*'] = parts.slice(n).join('/')
  return params
}

// every path of up to 4 segments over a, b, z (matched by no static) and '' (empty segments)
const UNIVERSE: string[] = ['/']
for (let depth = 1, layer = ['']; depth <= 4; depth++) {
  layer = layer.flatMap((prefix) => ['a', 'b', 'z', ''].map((s) => `${prefix}/${s}`))
  UNIVERSE.push(...layer)
}

function bruteOverlap (a: RoutePattern, b: RoutePattern): boolean {
  return UNIVERSE.some((path) => reference(path, a) !== null && reference(path, b) !== null)
}

function rng (seed: number): () => number { // mulberry32: reproducible
  return () => {
    seed = (seed + 0x6D2B79F5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

function randomPath (next: () => number): string {
  const depth = Math.floor(next() * 4)
  const names = ['id', 'x', 'y']
  const segs = Array.from({ length: depth }, (_, i) => next() < 0.35 ? `:${names[i]!}` : next() < 0.5 ? 'a' : 'b')
  if (next() < 0.35) segs.push('*')
  return segs.length === 0 ? '/' : `/${segs.join('/')}`
}

t.test('patternsOverlap agrees with brute force', async (t) => {
  const next = rng(1)
  let disagreements = 0
  let overlaps = 0
  for (let i = 0; i < 400; i++) {
    const a = pattern(randomPath(next))
    const b = pattern(randomPath(next))
    const expected = bruteOverlap(a, b)
    if (expected) overlaps++
    if (patternsOverlap(a, b) !== expected) disagreements++
  }
  t.equal(disagreements, 0)
  t.ok(overlaps > 50 && overlaps < 350, `both outcomes are exercised (${overlaps} overlaps)`)
})

t.test('OverlapIndex finds exactly the earlier overlapping routes', async (t) => {
  const next = rng(2)
  for (let round = 0; round < 30; round++) {
    const index = new OverlapIndex()
    const seen: RoutePattern[] = []
    for (let i = 0; i < 12; i++) {
      const p = pattern(randomPath(next))
      const expected = seen.flatMap((q, j) => bruteOverlap(p, q) ? [j] : [])
      const found = index.add(p, i)
      if (JSON.stringify(found) !== JSON.stringify(expected)) t.fail(`round ${round} route ${i}: ${JSON.stringify(found)} != ${JSON.stringify(expected)}`)
      seen.push(p)
    }
  }
  t.pass('30 rounds of 12 routes')
})

t.test('lookup agrees with brute force on random maps', async (t) => {
  const next = rng(3)
  const up = Object.freeze({ name: 'u', origin: 'http://h', basePath: '', timeoutMs: 1 })
  const methodsPool: HttpMethod[] = ['GET', 'HEAD', 'POST', 'DELETE']
  let checked = 0
  const kinds = { match: 0, method_not_allowed: 0, not_found: 0 }
  for (let round = 0; round < 60; round++) {
    const routes: CompiledRoute[] = []
    const patterns: RoutePattern[] = []
    for (let k = 0; k < 10; k++) {
      const path = randomPath(next)
      const p = pattern(path)
      const methods = methodsPool.filter(() => next() < 0.4)
      if (methods.length === 0) continue
      const mask = methodMask(methods)
      // keep the map valid: no two routes sharing a method may overlap
      if (routes.some((r, j) => (methodMask(r.methods) & mask) !== 0 && bruteOverlap(patterns[j]!, p))) continue
      routes.push(route(path, methods, up))
      patterns.push(p)
    }
    const tbl = new CompiledRouteTable(routes, patterns, [], 'random')
    for (const path of UNIVERSE) {
      const matching = routes.flatMap((r, j) => {
        const params = reference(path, patterns[j]!)
        return params === null ? [] : [{ r, params }]
      })
      for (const method of [...HTTP_METHODS, 'BREW']) {
        const hit = matching.find((m) => (m.r.methods as string[]).includes(method))
        const allow = HTTP_METHODS.filter((m) => matching.some((x) => x.r.methods.includes(m)))
        const expected = hit !== undefined
          ? `${hit.r.id} ${JSON.stringify(hit.params)}`
          : allow.length > 0 ? `405 ${allow.join(',')}` : '404'
        const got = tbl.lookup(method, path)
        kinds[got.kind]++
        checked++
        if (show(got) !== expected) {
          t.fail(`round ${round}: ${method} ${path} gave ${show(got)}, expected ${expected}; routes: ${routes.map((r) => r.id).join(' | ')}`)
          return
        }
      }
    }
  }
  t.pass(`${checked} lookups agree`)
  t.ok(kinds.match > 1000 && kinds.method_not_allowed > 1000 && kinds.not_found > 1000, `all outcomes exercised: ${JSON.stringify(kinds)}`)
})
