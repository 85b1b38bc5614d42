// The route map's line reader (src/config/route-map-plain-yaml.ts): it must read exactly the data
// `yaml` (YAML 1.2 core, the exact path) reads, or give up so that js-yaml and then `yaml` read it.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { stringify } from 'yaml'
import { readPlainYaml } from '../../src/config/route-map-plain-yaml.js'
import { exactYaml as exact } from '../helpers/yaml-reference.js'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import { routesYaml } from '../../bench/lib/routes.js'
import { ROOT } from '../helpers/root.js'

/** A directive: neither the line reader nor js-yaml reads the text, `yaml` does. */
const FORCE_EXACT = '%YAML 1.2\n---\n'


const MAP = `version: 1
upstreams:
  orders: { url: "http://127.0.0.1:9001", timeout: 5s }   # the orders service
  catalog:
    url: 'http://127.0.0.1:9002/base'
    timeout: 1m
defaults:
  rate_limit: { limit: 600, window: 1m, by: subject }

# routes, in order
routes:
- path: /orders/*
  methods: [GET, HEAD]
  upstream: orders
  scopes: [orders:read, "orders:write"]
-   path: /catalog/:id
    upstream: catalog
    auth: none
    rate_limit:
      limit: 10
      window: 1s
      by: ip
    forward_token: false
  # a comment at another indentation
- path: /empty
  upstream: orders
  scopes: []
  rate_limit: off
scopes:
  orders:read: Read your orders # a comment
  orders:write: "Place and cancel orders: all of them"
`

// [what, text, 'read': the reader must read it (and read what yaml reads) | 'bail': it must give up]
const cases: Array<[string, string, 'read' | 'bail']> = [
  ['a route map in the styles the README uses', MAP, 'read'],
  ['the bench map', routesYaml(9000, 30), 'read'],
  ['1.2 core scalars', 'a: [true, True, TRUE, false, False, FALSE, ~, null, Null, NULL, yes, off, 1_000, 0, 600]\nb:\nc: 123456789012345', 'read'],
  ['a sequence under a key, indented', 'a:\n  - x\n  - y\nb: 1', 'read'],
  ['a comment after a key', 'a: # nothing here\n  b: 1', 'read'],
  ['a # inside a value is part of it', 'a: x#y\nb: "q # r"', 'read'],
  ['empty flow collections', 'a: []\nb: {}\nc: [ ]  # none', 'read'],
  ['a key holding a colon', 'orders:read: x\na:b:c: y', 'read'],
  ['a multi-line plain scalar', 'a: this is\n  continued\nb: 1', 'bail'],
  ['a multi-line plain scalar in a sequence', 'a:\n  - one\n    two', 'bail'],
  ['a multi-line quoted scalar', 'a: "one\n  two"', 'bail'],
  ['a multi-line flow collection', 'a: [x,\n  y]', 'bail'],
  ['a trailing comma in a flow collection', 'a: [x, y, ]', 'bail'],
  ['a more indented key', 'a: 1\n  b: 2', 'bail'],
  ['inconsistent indentation', 'a:\n    b: 1\n  c: 2', 'bail'],
  ['a scalar below a key', 'a:\n  just text', 'bail'],
  ['nested sequences', 'a:\n  - - x', 'bail'],
  ['an empty sequence item', 'a:\n  -\n  - x', 'bail'],
  ['duplicate keys', 'a: 1\na: 2', 'bail'],
  ['duplicate keys in a flow mapping', 'a: { x: 1, x: 2 }', 'bail'],
  ['a null key', 'null: 1', 'bail'],
  ['a boolean key', 'true: 1', 'bail'],
  ['a numeric key', '1: x', 'bail'],
  ['__proto__', '__proto__: { a: 1 }', 'bail'],
  ['a merge key', 'b: { a: 1 }\nc:\n  <<: x', 'bail'],
  ['a quoted key', '"a b": 1', 'bail'],
  ['a key with a space before its colon', 'a : 1', 'bail'],
  ['a mapping inside a plain scalar', 'a: b: c', 'bail'],
  ['a pair inside a flow sequence', 'a: [x: 1]', 'bail'],
  ['a key without a value in a flow mapping', 'a: { x }', 'bail'],
  ['mismatched brackets', 'a: [x}\nb: { c: 1 ]', 'bail'],
  ['a key starting with a dash (not a sequence item)', 'a:\n  -x: 1', 'bail'],
  ['nested flow collections', 'a: [[x]]\nb: { c: { d: 1 } }', 'bail'],
  ['anchors and aliases', 'a: &x 1\nb: *x', 'bail'],
  ['tags', 'a: !!str 5', 'bail'],
  ['block scalars', 'a: |\n  line\nb: >\n  folded', 'bail'],
  ['escapes in double quotes', 'a: "tab\\tx"', 'bail'],
  ['an escaped single quote', "a: 'it''s'", 'bail'],
  ['text after a quoted scalar', 'a: "x" y', 'bail'],
  ['a comment without a space before it', 'a: "x"#c', 'bail'],
  ['text after a flow collection', 'a: [x] y', 'bail'],
  ['a comment right after a flow collection', 'a: [x]# c', 'bail'],
  ['a comment right after an empty flow collection', 'a: {}# c', 'bail'],
  ['a directive', '%YAML 1.2\n---\na: 1', 'bail'],
  ['a document marker', '---\na: 1', 'bail'],
  ['two documents', 'a: 1\n---\nb: 2', 'bail'],
  ['an explicit key', '? a\n: 1', 'bail'],
  ['octal, hex, floats and signed numbers', 'a: 0o17', 'bail'],
  ['a leading zero', 'a: 0755', 'bail'],
  ['a float', 'a: [1.5]', 'bail'],
  ['a signed number', 'a: -1', 'bail'],
  ['too many digits for an exact number', 'a: 1234567890123456', 'bail'],
  ['.inf', 'a: .inf', 'bail'],
  ['a tab', 'a:\n\tb: 1', 'bail'],
  ['a carriage return', 'a: 1\r\nb: 2\r\n', 'bail'],
  ['a byte-order mark', '\ufeffa: 1', 'bail'],
  ['a line separator', 'a: x\u2028y', 'bail'],
  ['a control character', 'a: x\u0007y', 'bail'],
  ['a plain scalar starting with an indicator', 'a: @x', 'bail'],
  ['a top-level scalar', 'just text', 'bail'],
  ['an empty document', '', 'bail'],
  ['only comments', '# nothing\n  # at all', 'bail'],
  ['a line less indented than the first', '  a: 1\nb: 2', 'bail']
]

/**
 * Whether the line reader read `text`; when it did, what it read must be what yaml reads (the diff is
 * reported on a mismatch only: a property passes thousands of texts).
 */
function readAsYaml (t: Test, text: string): boolean {
  const plain = readPlainYaml(text)
  if (plain === undefined) return false
  const reference = exact(text)
  if (!isDeepStrictEqual(plain, reference)) t.strictSame(plain, reference, text)
  return true
}

t.test('the line reader reads what yaml reads, or gives up', async (t) => {
  for (const [what, text, expected] of cases) {
    const plain = readPlainYaml(text)
    if (expected === 'bail') t.equal(plain, undefined, `${what}: gives up`)
    else {
      t.not(exact(text), 'error', `${what}: valid YAML`)
      t.strictSame(plain, exact(text), `${what}: same data`)
    }
  }
})

t.test('property: on generated documents the line reader agrees with yaml or gives up', async (t) => {
  const scalar = fc.oneof(
    fc.constantFrom('yes', 'off', '0755', '0o17', '0x1f', '1e3', '.5', '-1', '+1', '.inf', '~', 'null', 'True', 'FALSE',
      '1_000', '5s', '/orders/*', 'a: b', 'a:b', '- x', '#x', 'x #y', 'x#y', '"q"', "'q'", '', ' ', 'é', ' x', 'x ', '1', '0',
      '12345678901234567890', '[a]', '{a: 1}', 'a, b', '@x', '%x', '&x', '*x', '!x', '|x', '>x', '?x', ':x', 'x:'),
    fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null), fc.double({ noNaN: true })
  )
  const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('on', '1', 'null', 'true', '<<', '__proto__', 'a:b', 'a b', 'path'))
  const value = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(key, tie('node'), { maxKeys: 3 }))
  })).node
  let read = 0
  fc.assert(fc.property(value, fc.constantFrom<'block' | 'flow' | 'any'>('block', 'flow', 'any'), fc.integer({ min: 1, max: 4 }),
    fc.boolean(), (v, style, indent, indentSeq) => {
      if (readAsYaml(t, stringify({ root: v }, { collectionStyle: style, indent, indentSeq }))) read++
      return true
    }), { numRuns: 1500 })
  t.ok(read > 300, `the reader read ${read} of 1,500 generated documents (the rest it gave up on)`)
})

t.test('property: random lines of keys, items, scalars, flow collections and comments: never data yaml does not read', async (t) => {
  // the tokens where the subset's edges are: indicators, quotes, `#` with and without a space, colons
  const scalar = fc.constantFrom('x', 'a b', 'x:y', 'x: y', 'x:', 'x#y', '/a/*', '1', '01', '-1', '1.5', 'true', 'no', '~', 'null',
    '"q"', '"q #"', "'q'", "'q''r'", '"a\\"b"', '', ' ', '-', '- x', '?x', ':x', '@x', '%x', '*x', '&x y', '!x y', '|', '>', 'x,y', 'x]', 'x}', '"x" y', 'é', '\u00a0x')
  const flowItems = fc.array(fc.oneof(scalar, fc.tuple(fc.constantFrom('k', 'l', '"k"', 'true', '1'), fc.constantFrom(': ', ':', ' : '), scalar).map((p) => p.join(''))), { maxLength: 3 })
  const flowColl = fc.tuple(fc.constantFrom('[', '{'), fc.constantFrom('', ' '), flowItems, fc.constantFrom(',', ', ', ' ,'), fc.constantFrom('', ' ', ','), fc.constantFrom(']', '}'))
    .map(([open, pad, items, sep, end, close]) => open + pad + items.join(sep) + end + close)
  const value = fc.oneof(scalar, scalar, flowColl)
  const trail = fc.constantFrom('', '', ' ', ' # c', '# c', '  #c', ' #')
  const indent = fc.constantFrom('', '', '  ', '  ', '    ', ' ', '   ')
  const key = fc.constantFrom('k', 'l', 'm', 'n')
  const line = fc.oneof(
    fc.tuple(indent, value, trail).map(([i, v, c]) => `${i}- ${v}${c}`),
    fc.tuple(indent, key, value, trail).map(([i, k, v, c]) => `${i}- ${k}: ${v}${c}`),
    fc.tuple(indent, key, trail).map(([i, k, c]) => `${i}${k}:${c}`),
    fc.constantFrom('', '#c', '  # c', ' '),
    { arbitrary: fc.tuple(indent, key, value, trail).map(([i, k, v, c]) => `${i}${k}: ${v}${c}`), weight: 2 }
  )
  let read = 0
  fc.assert(fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), fc.boolean(), (lines, newline) => {
    if (readAsYaml(t, lines.join('\n') + (newline ? '\n' : ''))) read++
    return true
  }), { numRuns: 4000 })
  t.ok(read > 200, `the reader read ${read} of 4,000 documents of random lines (the rest it gave up on)`)
})

t.test('property: route maps edited by hand (spacing, comments, quotes, line order) read as yaml reads them', async (t) => {
  const word = fc.stringMatching(/^[a-z][a-z0-9_-]{0,6}$/)
  const pad = fc.constantFrom('', ' ', '  ')
  const comment = fc.constantFrom('', ' # note', '  #', ' # a: b, [c]')
  const route = fc.record({
    path: fc.constantFrom('/a/*', '/b/:id', '/c/v1/status', '/d'),
    quote: fc.constantFrom('', '"', "'"),
    upstream: word,
    scopes: fc.array(fc.stringMatching(/^[a-z]{1,5}:(read|write)$/), { maxLength: 3 }),
    limit: fc.option(fc.integer({ min: 0, max: 1_000_000 })),
    flow: fc.boolean(),
    c: comment,
    p: pad
  })
  fc.assert(fc.property(fc.array(route, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), (routes, ind, seqIndented) => {
    const sp = ' '.repeat(ind)
    const item = seqIndented ? sp : ''
    const lines = ['version: 1', 'upstreams:', `${sp}api: { url: "http://127.0.0.1:9001", timeout: 5s }`, 'routes:']
    for (const r of routes) {
      lines.push(`${item}- path: ${r.quote}${r.path}${r.quote}${r.c}`, `${item}  upstream: ${r.upstream}`)
      lines.push(`${item}  scopes: [${r.p}${r.scopes.join(`${r.p},${r.p}`)}${r.p}]${r.c}`)
      if (r.limit !== null) {
        if (r.flow) lines.push(`${item}  rate_limit: {${r.p}limit: ${r.limit},${r.p}window: 1m, by: subject${r.p}}`)
        else lines.push(`${item}  rate_limit:${r.c}`, `${item}${sp}  limit: ${r.limit}`, `${item}${sp}  window: 1s`)
      }
    }
    const text = lines.join('\n') + '\n'
    if (!readAsYaml(t, text)) t.fail(`the line reader gave up on a map in its subset:\n${text}`)
    return true
  }), { numRuns: 300 })
  t.pass('300 generated maps read, each as yaml reads it')
})

t.test('the loader takes the line reader for the bench map and compiles the same table as the exact path', async (t) => {
  const text = routesYaml(9000, 300)
  t.not(readPlainYaml(text), undefined)
  const fast = compileRouteMap(text, 'r.yaml')
  const slow = compileRouteMap(FORCE_EXACT + text, 'r.yaml')
  t.equal(readPlainYaml(FORCE_EXACT + text), undefined)
  t.same(fast.routes, slow.routes)
  t.equal(fast.version, slow.version)
})

t.test('the maps this repository ships and tests with: read by the line reader, as yaml reads them', async (t) => {
  const files = ['routes.yaml', 'deploy/compose/routes.yaml', ...readdirSync(join(ROOT, 'test/fixtures/routes')).map((f) => `test/fixtures/routes/${f}`)]
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8')
    const plain = readPlainYaml(text)
    if (file === 'routes.yaml' || file.startsWith('deploy/')) t.not(plain, undefined, `${file}: read by the line reader`)
    if (plain !== undefined) t.strictSame(plain, exact(text), `${file}: the same data`)
  }
})
