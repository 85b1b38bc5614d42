// Parsing the route map's YAML: the js-yaml fast path against `yaml`, and the `scopes` section.
import t from 'tap'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { exactYaml as exact } from '../helpers/yaml-reference.js'
import { compileRouteMap, parseFast } from '../../src/config/route-map-loader.js'

// Lever 4 of issue 6: the route map is parsed with js-yaml first (fast, no positions) and only
// re-parsed with `yaml` (positions) when something is wrong. The fast path must read exactly the
// data `yaml` (YAML 1.2 core) reads, or give up: these cases are where the two could disagree.

const cases: Array<[string, string, 'same' | 'bail']> = [
  ['YAML 1.1 booleans are strings in 1.2', 'a: [yes, no, on, off, y, n, Yes, OFF]', 'same'],
  ['1.2 core booleans and nulls', 'a: [true, True, TRUE, false, False, FALSE, ~, null, Null, NULL]\nb:', 'same'],
  ['plain decimal integers', 'version: 1\nlimit: 600\nzero: 0\nbig: 123456789012345', 'same'],
  ['durations and paths stay strings', 'timeout: 5s\nwindow: 1m\npath: /orders/*\nid: /a/:id', 'same'],
  ['octal 0o17 is a number in 1.2', 'a: 0o17', 'bail'],
  ['leading zero: 1.1 octal, 1.2 decimal', 'a: 0755', 'bail'],
  ['hex', 'a: 0x1F', 'bail'],
  ['floats and exponents', 'a: 1.5\nb: 1e3\nc: .5', 'bail'],
  ['signed integers', 'a: -1', 'bail'],
  ['+1', 'a: +1', 'bail'],
  ['infinity and NaN', 'a: .inf\nb: .NaN', 'bail'],
  ['1_000 is a string in 1.2 (js-yaml core would say 1000)', 'a: 1_000', 'same'],
  ['a %YAML 1.1 directive changes the schema', '%YAML 1.1\n---\na: yes', 'bail'],
  ['anchors and aliases', 'a: &x { url: http://h }\nb: *x', 'bail'],
  ['merge keys', 'base: &b { auth: none }\nr:\n  <<: *b\n  path: /x', 'bail'],
  ['duplicate keys', 'a: 1\na: 2', 'bail'],
  ['a flow sequence as a key', '[a]: 1', 'bail'],
  ['a flow mapping as a key', 'x:\n  {a: 1}: 2', 'bail'],
  ['a flow collection key inside a flow mapping', 'x: {[a]: 1}', 'bail'],
  ['explicit keys', '? a\n: 1', 'bail'],
  ['!!str tag', 'a: !!str 5', 'same'],
  ['!!int tag on a decimal', 'a: !!int "5"', 'same'],
  ['!!int tag on hex', 'a: !!int 0x1F', 'bail'],
  ['!!bool on a 1.1 boolean', 'a: !!bool yes', 'bail'],
  ['a custom tag', 'a: !thing x', 'bail'],
  ['two documents', 'a: 1\n---\nb: 2', 'bail'],
  ['quoted scalars keep their text', 'a: "1"\nb: \'off\'\nc: "tab\\tx\\u00e9"\nd: "null"', 'same'],
  ['block scalars', 'a: |\n  line 1\n  line 2\nb: >-\n  folded\n  text\n', 'same'],
  ['a tab in indentation', 'a:\n\tb: 1', 'bail'],
  ['a comment after a value', 'a: 1 # one\nb: x#y', 'same'],
  ['an empty document', '', 'bail'],
  ['only a comment', '# nothing', 'bail'],
  ['flow collections as values', 'u: { url: "http://h:1", timeout: 5s }\nm: [GET, HEAD]\nl: { limit: 10, window: 1s, by: client }', 'same']
]

t.test('the fast path reads what yaml reads, or gives up', async (t) => {
  for (const [what, text, expected] of cases) {
    const fast = parseFast(text)
    const reference = exact(text)
    if (expected === 'bail') t.equal(fast, undefined, `${what}: gives up`)
    else {
      t.not(reference, 'error', `${what}: valid YAML`)
      t.same(fast, reference, `${what}: same data`)
    }
    // whatever the row says: never data that differs from yaml's, never data for YAML yaml refuses
    if (fast !== undefined) t.strictSame(fast, reference, `${what}: never different data`)
  }
})

t.test('property: on generated documents the fast path agrees with yaml or gives up', async (t) => {
  const scalar = fc.oneof(
    fc.constantFrom('yes', 'no', 'on', 'off', '0755', '0o17', '0x1f', '1e3', '.5', '-1', '+1', '.inf', '~', 'null', 'True',
      '1_000', '5s', '/orders/*', 'a: b', '- x', '#x', '"q"', "'q'", '', ' ', 'é', '1', '0', '12345678901234567890'),
    fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null), fc.double({ noNaN: true })
  )
  const value = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('node'), { maxLength: 3 }),
      fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('on', '1', 'null', '<<')), tie('node'), { maxKeys: 3 }))
  })).node
  fc.assert(fc.property(value, fc.constantFrom<'block' | 'flow'>('block', 'flow'), (v, style) => {
    const text = stringify({ root: v }, { collectionStyle: style })
    const fast = parseFast(text)
    if (fast === undefined) return true
    t.strictSame(fast, exact(text), text)
    return true
  }), { numRuns: 500 })
})

t.test('a valid map compiles to the same table through either parser', async (t) => {
  const map = `version: 1
upstreams:
  orders: { url: http://127.0.0.1:9001, timeout: 5s }
defaults:
  rate_limit: { limit: 600, window: 1m, by: subject }
routes:
  - path: /orders/*
    methods: [GET, HEAD]
    upstream: orders
    scopes: [orders:read]
  - path: /catalog/*
    upstream: orders
    auth: none
    rate_limit: off
`
  t.not(parseFast(map), undefined, 'this map takes the fast path')
  const fast = compileRouteMap(map, 'r.yaml')
  const slow = compileRouteMap('%YAML 1.2\n---\n' + map, 'r.yaml') // a directive: the exact path
  t.same(fast.routes, slow.routes)
  t.equal(fast.routes[1]!.rateLimit, null, '`rate_limit: off` is still off')
  t.same(fast.routes[0]!.rateLimit, { limit: 600, windowMs: 60_000, by: 'subject', mode: 'batched' })
})

t.test('an invalid map is reported with positions, as by the exact path', async (t) => {
  const map = 'version: 1\nupstreams:\n  orders: { url: http://127.0.0.1:9001 }\nroutes:\n  - path: /orders/*\n    upstream: ordrs\n'
  t.not(parseFast(map), undefined, 'valid YAML: the fast path parses it and then finds the problem')
  const err = t.throws(() => compileRouteMap(map, 'r.yaml')) as unknown as { issues: unknown }
  t.match(err.issues, [{ file: 'r.yaml', line: 6, column: 15, message: /unknown upstream "ordrs"/ }])
})

// The route map's `scopes` section: scope descriptions for the consent page (README "Mobile clients").

const base = `version: 1
upstreams:
  orders: { url: http://127.0.0.1:9001 }
routes:
  - path: /orders/*
    upstream: orders
    scopes: [orders:read]
`

t.test('descriptions are compiled into the table, hot-reloaded with it', async (t) => {
  const table = compileRouteMap(`${base}scopes:\n  orders:read: Read your orders\n  orders:write: Place and cancel orders\n`, 'routes.yaml')
  t.same([...table.scopeDescriptions ?? []], [['orders:read', 'Read your orders'], ['orders:write', 'Place and cancel orders']])
  t.same([...compileRouteMap(base, 'routes.yaml').scopeDescriptions ?? []], [], 'optional')
})

t.test('a bad scope name or description is a positioned route-map error', async (t) => {
  t.throws(() => compileRouteMap(`${base}scopes:\n  "bad scope": x\n`, 'routes.yaml'), /routes\.yaml:9:3 scopes: "bad scope" is not a scope token/)
  t.throws(() => compileRouteMap(`${base}scopes:\n  orders:read: ""\n`, 'routes.yaml'), /routes\.yaml:9:\d+ .*description of 1-200 characters/)
  t.throws(() => compileRouteMap(`${base}scopes: [orders:read]\n`, 'routes.yaml'), /mapping of scope names to descriptions/)
})
