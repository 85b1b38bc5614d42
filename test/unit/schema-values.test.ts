// Enum-like schemas name their allowed values in config errors (env.ts and the route-map loader)
// instead of TypeBox's "must be equal to constant" (issue 9).
import t from 'tap'
import { Type } from 'typebox'
import { Value } from 'typebox/value'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import { RouteMapError } from '../../src/config/route-types.js'
import { allowedValues, isUnionMemberError, oneOfMessage } from '../../src/config/schema-values.js'

t.test('allowedValues: enum and unions of literals; null for anything else', async (t) => {
  t.same(allowedValues(Type.Enum(['a', 'b'])), ['a', 'b'])
  t.same(allowedValues(Type.Union([Type.Literal('x'), Type.Literal(2)])), ['x', 2])
  t.equal(allowedValues(Type.Union([Type.Literal('x'), Type.String()])), null, 'a union with a non-literal member')
  t.equal(allowedValues(Type.String()), null)
  t.equal(allowedValues(undefined), null)
  t.equal(oneOfMessage(Type.Enum(['required', 'none'])), 'must be one of required, none')
})

t.test('a union of literals is reported once, by its anyOf error, not once per member', async (t) => {
  const schema = Type.Object({ mode: Type.Union([Type.Literal('strict'), Type.Literal('replicated')]) })
  const errors = [...Value.Errors(schema, { mode: 'fast' })]
  const at = (path: string): unknown => path === '#/properties/mode' ? schema.properties.mode : undefined
  const kept = errors.filter((e) => !isUnionMemberError(e, at))
  t.same(kept.map((e) => e.keyword), ['anyOf'])
  t.equal(oneOfMessage(at(kept[0]!.schemaPath)), 'must be one of strict, replicated')
})

t.test('route map: every enum-valued key names its values when violated', async (t) => {
  const text = [
    'version: 1',
    'upstreams:',
    '  u: { url: http://127.0.0.1:9001 }',
    'defaults: { auth: sometimes }',
    'routes:',
    '  - { path: /a/*, methods: [GIT], upstream: u, rate_limit: { limit: 1, window: 1m, by: who } }',
    ''
  ].join('\n')
  const err = t.throws(() => compileRouteMap(text, 'r.yaml')) as RouteMapError
  t.type(err, RouteMapError)
  const messages = err.issues.map((i) => i.message)
  t.match(messages.join('\n'), /defaults\.auth: must be one of required, optional, none, got "sometimes"/)
  t.match(messages.join('\n'), /methods\[0\]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS/)
  t.match(messages.join('\n'), /rate_limit\.by: must be one of subject, client, ip, got "who"/)
  t.notMatch(messages.join('\n'), /constant|anyOf/)
})
