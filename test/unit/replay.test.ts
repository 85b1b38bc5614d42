// routes replay's decision (src/pipeline/replay.ts), one row per kind of recorded caller: what a
// decision-log line lets replay decide again under a new map, and what it must keep as recorded.
import t from 'tap'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import type { DecisionRecord } from '../../src/pipeline/decision-log.js'
import { parseDecisionLine, redecide } from '../../src/pipeline/replay.js'

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
const refused = (reason: string, stage = 'authenticate') => ({ decision: 'refuse' as const, reason, stage })

const ROWS: Array<[string, DecisionRecord, string]> = [
  ['a verified token with the scope is allowed', rec(verified(['a'])), 'allowed'],
  ['a verified token without it is refused by the scope rule', rec(verified(['b'])), 'scope_missing'],
  ['scope_missing under the old map, with the scope now: allowed', rec({ ...verified(['a']), ...refused('scope_missing', 'authorize') }), 'allowed'],
  ['no token, auth: required: token_missing', rec(refused('token_missing')), 'token_missing'],
  ['no token, auth: optional: anonymous, allowed', rec({ ...refused('token_missing'), path: '/opt/1' }), 'allowed'],
  ['anonymous on auth: optional before, auth: required now', rec({ auth: 'optional' }), 'token_missing'],
  ['an expired token stays refused where a token is read', rec(refused('token_expired')), 'token_expired'],
  ['an expired token stays refused on auth: optional too', rec({ ...refused('token_expired'), path: '/opt/1' }), 'token_expired'],
  ['a revoked token on auth: none: no token is read, allowed', rec({ ...verified(['a']), ...refused('revoked', 'check-revocation'), path: '/pub/1' }), 'allowed'],
  ['no route now', rec({ ...verified(['a']), path: '/gone' }), 'route_not_found'],
  ['a method the route lacks', rec({ ...verified(['a']), method: 'DELETE' }), 'method_not_allowed'],
  ['a method the gateway never routes', rec({ ...verified(['a']), method: 'CONNECT' }), 'route_not_found'],
  ['a 404 before, still no route', rec({ ...refused('route_not_found', 'match'), path: '/gone', auth: null }), 'route_not_found'],
  ['a 404 before, a public route now', rec({ ...refused('route_not_found', 'match'), path: '/pub/x', auth: null }), 'allowed'],
  ['a 404 before, a route reading a token now: the token was never read', rec({ ...refused('route_not_found', 'match'), auth: null }), 'undecidable: token_not_read'],
  ['allowed on auth: none before, a token required now: never read', rec({ auth: 'none' }), 'undecidable: token_not_read'],
  ['rate_limited depends on counters, not the map', rec({ ...verified(['a']), ...refused('rate_limited', 'rate-limit') }), 'undecidable: rate_limited'],
  ['store_unavailable depends on the store', rec(refused('store_unavailable', 'check-revocation')), 'undecidable: store_unavailable'],
  ['bad_path has no path to match', rec({ ...refused('bad_path', 'match'), path: null, auth: null }), 'undecidable: bad_path']
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
