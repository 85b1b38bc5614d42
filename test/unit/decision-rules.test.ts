// The edge's decision rules as pure tables: scopes and identity claims, the one revocation rule, and
// what routes replay may decide again from a recorded decision.
import t from 'tap'
import { hasAllScopes } from '../../src/pipeline/authorize.js'
import { scopeList, toIdentity } from '../../src/pipeline/authenticate.js'
import type { AccessTokenClaims } from '../../src/oauth/jwt.js'
import { epochVerdict, isUserSubject, revocationVerdict, type RevocationVerdict, type TokenFacts } from '../../src/revocation/rule.js'
import type { RevocationState } from '../../src/store/types.js'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import type { DecisionRecord } from '../../src/pipeline/decision-log.js'
import { parseDecisionLine, redecide } from '../../src/pipeline/replay.js'

// The edge's decision rules as pure tables: scopes and identity claims, and the one revocation rule.

// Scope decisions (RFC 9068 §4, RFC 6750 §3.1) and the claim-to-identity rules, as pure logic.

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

// The one revocation rule (src/revocation/rule.ts) as a table: RFC 7009 §2.2 (a revoked token stops
// working), the userCutoff and client cut-off boundaries, client_credentials subjects (J52), and the store epoch
// (SECURITY.md E02: another epoch or none is refused; E04: no confirmed epoch is never a pass).

const E = 'epoch-now'
const clear: RevocationState = { tokenRevoked: false, sessionRevoked: false, userRevokedBefore: null, userDisabled: false, clientDisabled: false, clientRevokedBefore: null }
const user: TokenFacts = { user: true, issuedAt: 100, epoch: E }
const client: TokenFacts = { user: false, issuedAt: 100, epoch: E }
const pass = { kind: 'pass' }
const refused = (reason: string): object => ({ kind: 'refused', reason })
const unknown = { kind: 'unknown', reason: 'store epoch unconfirmed' }

interface Row { proves: string, token: TokenFacts, store: string | null, state: Partial<RevocationState>, verdict: object }

const rows: Row[] = [
  { proves: 'a clean user token of the current epoch passes', token: user, store: E, state: {}, verdict: pass },
  { proves: 'a revoked jti is refused', token: user, store: E, state: { tokenRevoked: true }, verdict: refused('token revoked') },
  { proves: 'a revoked session is refused', token: user, store: E, state: { sessionRevoked: true }, verdict: refused('session revoked') },
  { proves: 'a disabled client is refused', token: user, store: E, state: { clientDisabled: true }, verdict: refused('client disabled') },
  { proves: 'a disabled user is refused', token: user, store: E, state: { userDisabled: true }, verdict: refused('user disabled') },
  { proves: 'iat 100 < cut-off 101 is refused', token: user, store: E, state: { userRevokedBefore: 101 }, verdict: refused('user revoked before') },
  { proves: 'iat 100 = cut-off 100 passes: issued after the revocation second', token: user, store: E, state: { userRevokedBefore: 100 }, verdict: pass },
  { proves: 'J52: the user rows never apply to a client_credentials subject', token: client, store: E, state: { userDisabled: true, userRevokedBefore: 1e10 }, verdict: pass },
  { proves: 'J52: a client token of a disabled client is refused', token: client, store: E, state: { clientDisabled: true }, verdict: refused('client disabled') },
  { proves: 'J52: a client token whose jti is revoked is refused', token: client, store: E, state: { tokenRevoked: true }, verdict: refused('token revoked') },
  { proves: 'the client cut-off (clients disable) refuses a user token of the client issued before it', token: user, store: E, state: { clientRevokedBefore: 101 }, verdict: refused('client revoked before') },
  { proves: 'the client cut-off refuses a client_credentials token too', token: client, store: E, state: { clientRevokedBefore: 101 }, verdict: refused('client revoked before') },
  { proves: 'iat 100 = client cut-off 100 passes: issued after the disable second', token: user, store: E, state: { clientRevokedBefore: 100 }, verdict: pass },
  { proves: 'E02: a token of another (lost) epoch is refused, even with a clean state', token: { ...user, epoch: 'epoch-before' }, store: E, state: {}, verdict: refused('store epoch mismatch') },
  { proves: 'E02: a token without an epoch is refused', token: { ...user, epoch: undefined }, store: E, state: {}, verdict: refused('store epoch mismatch') },
  { proves: 'E02: a client token of another epoch is refused', token: { ...client, epoch: 'epoch-before' }, store: E, state: {}, verdict: refused('store epoch mismatch') },
  { proves: 'E04: no confirmed store epoch: cannot be judged, never a pass', token: user, store: null, state: {}, verdict: unknown },
  { proves: 'E04: no confirmed store epoch wins over a revocation (503, not 401)', token: user, store: null, state: { tokenRevoked: true }, verdict: unknown },
  { proves: 'E02: the epoch rows come before the state rows', token: { ...user, epoch: 'epoch-before' }, store: E, state: { tokenRevoked: true }, verdict: refused('store epoch mismatch') }
]

t.test('RFC 7009 §2.2 and SECURITY.md E02/E04: the revocation rule table', async (t) => {
  for (const r of rows) {
    t.same(revocationVerdict(r.token, r.store, { ...clear, ...r.state }), r.verdict, r.proves)
  }
})

t.test('epochVerdict alone agrees with the epoch rows of the whole rule', async (t) => {
  const cases: Array<[string | undefined, string | null, RevocationVerdict['kind']]> = [
    [E, E, 'pass'], ['epoch-before', E, 'refused'], [undefined, E, 'refused'], [E, null, 'unknown'], [undefined, null, 'unknown']
  ]
  for (const [token, store, kind] of cases) {
    t.equal(epochVerdict(token, store).kind, kind, `token ${String(token)}, store ${String(store)}`)
    t.equal(revocationVerdict({ ...user, epoch: token }, store, clear).kind, kind, 'the same in the whole rule')
  }
})

t.test('RFC 9700 §4.15.1: only client:<own client_id> is a client subject', async (t) => {
  t.equal(isUserSubject('alice', 'mobile'), true)
  t.equal(isUserSubject('client:svc', 'svc'), false)
  t.equal(isUserSubject('client:other', 'svc'), true, 'another client\'s name is not this client')
})

// routes replay's decision (src/pipeline/replay.ts), one row per kind of recorded caller: what a
// decision-log line lets replay decide again under a new map, and what it must keep as recorded.

const table = compileRouteMap(`
version: 1
upstreams:
  app: { url: http://127.0.0.1:9 }
routes:
  - { path: /req/*, methods: [GET], upstream: app, scopes: [a] }
  - { path: /opt/*, methods: [GET], upstream: app, auth: optional }
  - { path: /pub/*, methods: [GET], upstream: app, auth: none }
`, 'new.yaml')

const rec = (o: Partial<DecisionRecord>): DecisionRecord => ({
  time: '2026-11-30T10:00:00.000Z', route: null, method: 'GET', path: '/req/1', subject: null, client: null,
  scopes: null, auth: 'required', decision: 'allow', reason: 'allowed', stage: null, ...o
})
const verified = (scopes: string[]) => ({ subject: 'alice', client: 'mobile', scopes })
const refusedAt = (reason: string, stage = 'authenticate') => ({ decision: 'refuse' as const, reason, stage })

const ROWS: Array<[string, DecisionRecord, string]> = [
  ['a verified token with the scope is allowed', rec(verified(['a'])), 'allowed'],
  ['a verified token without it is refused by the scope rule', rec(verified(['b'])), 'scope_missing'],
  ['scope_missing under the old map, with the scope now: allowed', rec({ ...verified(['a']), ...refusedAt('scope_missing', 'authorize') }), 'allowed'],
  ['no token, auth: required: token_missing', rec(refusedAt('token_missing')), 'token_missing'],
  ['no token, auth: optional: anonymous, allowed', rec({ ...refusedAt('token_missing'), path: '/opt/1' }), 'allowed'],
  ['anonymous on auth: optional before, auth: required now', rec({ auth: 'optional' }), 'token_missing'],
  ['an expired token stays refused where a token is read', rec(refusedAt('token_expired')), 'token_expired'],
  ['an expired token stays refused on auth: optional too', rec({ ...refusedAt('token_expired'), path: '/opt/1' }), 'token_expired'],
  ['a revoked token on auth: none: no token is read, allowed', rec({ ...verified(['a']), ...refusedAt('revoked', 'check-revocation'), path: '/pub/1' }), 'allowed'],
  ['no route now', rec({ ...verified(['a']), path: '/gone' }), 'route_not_found'],
  ['a method the route lacks', rec({ ...verified(['a']), method: 'DELETE' }), 'method_not_allowed'],
  ['a method the gateway never routes', rec({ ...verified(['a']), method: 'CONNECT' }), 'route_not_found'],
  ['a 404 before, still no route', rec({ ...refusedAt('route_not_found', 'match'), path: '/gone', auth: null }), 'route_not_found'],
  ['a 404 before, a public route now', rec({ ...refusedAt('route_not_found', 'match'), path: '/pub/x', auth: null }), 'allowed'],
  ['a 404 before, a route reading a token now: the token was never read', rec({ ...refusedAt('route_not_found', 'match'), auth: null }), 'undecidable: token_not_read'],
  ['allowed on auth: none before, a token required now: never read', rec({ auth: 'none' }), 'undecidable: token_not_read'],
  ['rate_limited depends on counters, not the map', rec({ ...verified(['a']), ...refusedAt('rate_limited', 'rate-limit') }), 'undecidable: rate_limited'],
  ['store_unavailable depends on the store', rec(refusedAt('store_unavailable', 'check-revocation')), 'undecidable: store_unavailable'],
  ['bad_path has no path to match', rec({ ...refusedAt('bad_path', 'match'), path: null, auth: null }), 'undecidable: bad_path']
]

t.test('redecide: one row per kind of recorded caller', async (t) => {
  for (const [what, r, want] of ROWS) {
    const got = redecide(table, r)
    t.equal('undecidable' in got ? `undecidable: ${got.undecidable}` : got.reason, want, what)
    if (!('undecidable' in got)) t.equal(got.decision, want === 'allowed' ? 'allow' : 'refuse', `${what}: decision`)
  }
})

t.test('parseDecisionLine: only whole records', async (t) => {
  const good = JSON.stringify(rec({}))
  t.strictSame(parseDecisionLine(good), rec({}))
  t.strictSame(parseDecisionLine(JSON.stringify({ ...rec({}), extra: 1 })), { ...rec({}), extra: 1 }, 'unknown members are ignored')
  for (const bad of ['', 'not json', '[]', 'null', JSON.stringify({ ...rec({}), decision: 'maybe' }), JSON.stringify({ ...rec({}), scopes: 'a b' }),
    JSON.stringify({ ...rec({}), auth: 'sometimes' }), JSON.stringify((({ reason: _, ...r }) => r)(rec({})))]) {
    t.equal(parseDecisionLine(bad), null, `refused: ${bad.slice(0, 40)}`)
  }
})
