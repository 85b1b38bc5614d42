// Property: compileRouteMap(text, file) over any text, any YAML and any structure never throws
// anything but RouteMapError, and every issue it reports points at a real position (line ≥ 1,
// column ≥ 1, integers) with a message (issue 5 point 2: no 5xx, no crash from any input).
import fc from 'fast-check'
import t from 'tap'
import { stringify } from 'yaml'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import { RouteMapError } from '../../src/config/route-types.js'
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
