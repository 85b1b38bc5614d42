// Scope decisions (RFC 9068 §4, RFC 6750 §3.1) and the claim-to-identity rules, as pure logic.
import t from 'tap'
import { hasAllScopes } from '../../src/pipeline/authorize.js'
import { scopeList, toIdentity } from '../../src/pipeline/authenticate.js'
import type { AccessTokenClaims } from '../../src/oauth/jwt.js'

t.test('RFC 6750 §3.1: every required scope must be granted, exact match', async (t) => {
  t.ok(hasAllScopes(['read', 'write'], ['read']))
  t.ok(hasAllScopes(['read', 'write'], ['write', 'read']), 'order does not matter')
  t.ok(hasAllScopes([], []), 'no required scope: any valid token')
  t.notOk(hasAllScopes(['read'], ['read', 'write']), 'all are required, not any')
  t.notOk(hasAllScopes(['Admin'], ['admin']), 'case-sensitive')
  t.notOk(hasAllScopes(['admin:read'], ['admin']), 'no prefix match')
  t.notOk(hasAllScopes(['admin'], ['admin:read']), 'no hierarchy')
  t.notOk(hasAllScopes(['read write'], ['read']), 'a granted entry is one scope, not a list')
  t.notOk(hasAllScopes([], ['read']))
})

t.test('RFC 6749 §3.3: scope claim parsing is strict and shared', async (t) => {
  t.same(scopeList(undefined), [])
  t.same(scopeList(''), [])
  t.same(scopeList('read write:x'), ['read', 'write:x'])
  t.equal(scopeList('a b'), scopeList('a b'), 'the same string yields the same frozen array')
  t.ok(Object.isFrozen(scopeList('a b')))
  for (const bad of ['a  b', ' a', 'a ', 'a\tb', 'a"b', 'a\\b', 'a\r\nb', 'caf\u00e9', 'a\u0000']) {
    t.equal(scopeList(bad), null, JSON.stringify(bad))
  }
})

const base: AccessTokenClaims = { iss: 'i', aud: 'a', sub: 'alice', client_id: 'mobile', jti: 'j1', iat: 100, exp: 200, scope: 'read', sid: 's1' }

t.test('identity comes from the verified claims only', async (t) => {
  t.same(toIdentity(base), {
    subject: 'alice', subjectType: 'user', clientId: 'mobile', scopes: ['read'], tokenId: 'j1', sessionId: 's1', issuedAt: 100, expiresAt: 200
  })
})

t.test('J52 / RFC 9700 §4.15.1: client_credentials subjects are typed client, and must name their client', async (t) => {
  t.equal(toIdentity({ ...base, sub: 'client:svc', client_id: 'svc' })?.subjectType, 'client')
  t.equal(toIdentity({ ...base, sub: 'client:other', client_id: 'svc' }), null, 'a client subject naming another client is refused')
  t.equal(toIdentity({ ...base, sub: 'client:', client_id: '' }), null)
})

t.test('J50: claims that are not header-safe make the token invalid', async (t) => {
  for (const [name, value] of [
    ['sub', 'a\r\nX-Admin: 1'], ['sub', 'a b'], ['sub', 'caf\u00e9'], ['sub', 'a\u0000'], ['sub', ''],
    ['client_id', 'm\nx'], ['jti', 'j\u007f'], ['sid', 's\r'], ['scope', 'read\r\nx']
  ] as const) {
    t.equal(toIdentity({ ...base, [name]: value }), null, `${name}=${JSON.stringify(value)}`)
  }
})
