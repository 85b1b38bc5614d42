// RFC 6750 §2.1 Authorization header syntax and §3 challenges (pure parsing; no server).
import t from 'tap'
import {
  bearerChallenges, countAuthorization, MALFORMED, NO_TOKEN, parseAuthorization, queryHasAccessToken
} from '../../src/pipeline/bearer.js'

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'

t.test('RFC 6750 §2.1: `Bearer` SP b64token yields the token', async (t) => {
  t.equal(parseAuthorization(`Bearer ${TOKEN}`), TOKEN)
  t.equal(parseAuthorization('Bearer abc+/=='), 'abc+/==', 'b64token allows + / and trailing =')
  t.equal(parseAuthorization('Bearer a-._~b'), 'a-._~b')
})

t.test('RFC 9110 §11.1: the scheme is case-insensitive', async (t) => {
  for (const scheme of ['bearer', 'BEARER', 'bEaReR']) t.equal(parseAuthorization(`${scheme} ${TOKEN}`), TOKEN, scheme)
})

t.test('another scheme is no bearer credential at all (null)', async (t) => {
  for (const v of ['Basic dXNlcjpwYXNz', 'Digest username="a"', 'Bearerx abc', 'Bear abc', 'Basic', '', 'Token abc', 'Beaver abc']) {
    t.equal(parseAuthorization(v), null, JSON.stringify(v))
  }
})

t.test('RFC 6750 §2.1, §3.1: malformed bearer credentials are problems (invalid_request)', async (t) => {
  const rows: Array<[string, unknown, string]> = [
    ['Bearer', NO_TOKEN, 'scheme alone'],
    ['bearer', NO_TOKEN, 'lowercase scheme alone'],
    [`Bearer  ${TOKEN}`, MALFORMED, 'two spaces'],
    [`Bearer\t${TOKEN}`, MALFORMED, 'tab separator'],
    [`Bearer ${TOKEN} extra`, MALFORMED, 'extra part'],
    [`Bearer ${TOKEN}\tx`, MALFORMED, 'tab inside'],
    [`Bearer ${TOKEN} `, MALFORMED, 'trailing space (Node trims it first anyway)']
  ]
  for (const [value, expected, why] of rows) t.equal(parseAuthorization(value), expected, why)
})

t.test('RFC 6750 §3.1: one whitespace-free token is handed on as is (its content is the verifier\'s: invalid_token)', async (t) => {
  for (const tok of ['a"b', '=abc', '{"payload":"x","signatures":[]}', 'ab\u00e9', 'a.b.c.d.e']) t.equal(parseAuthorization(`Bearer ${tok}`), tok, tok)
})

t.test('countAuthorization counts fields case-insensitively over rawHeaders', async (t) => {
  t.equal(countAuthorization(['Host', 'a', 'Authorization', 'Bearer x']), 1)
  t.equal(countAuthorization(['authorization', 'Bearer x', 'AUTHORIZATION', 'Bearer y']), 2)
  t.equal(countAuthorization(['Host', 'a', 'X-Authorization', 'b']), 0, 'a longer name is another field')
})

t.test('RFC 6750 §2.3: access_token in the query is detected, also encoded', async (t) => {
  const yes = ['access_token=x', 'a=1&access_token=x', 'access_token', 'a=1&access_token&b=2', 'acc%65ss_token=x', 'access%5Ftoken=x', 'a=b&access_token=']
  const no = ['', 'a=1', 'access_tokens=x', 'x_access_token=1', 'q=access_token', 'ACCESS_TOKEN=x', 'access_toke=x', 'a=%zz&b=1', 'access%zz_token=x']
  for (const q of yes) t.ok(queryHasAccessToken(q), q)
  for (const q of no) t.notOk(queryHasAccessToken(q), q)
})

t.test('RFC 6750 §3: challenges carry the realm; §3.1 bare when no credentials', async (t) => {
  const c = bearerChallenges('portcullis')
  t.equal(c.bare, 'Bearer realm="portcullis"')
  t.equal(c.invalidToken('The access token expired'), 'Bearer realm="portcullis", error="invalid_token", error_description="The access token expired"')
  t.equal(c.invalidRequest('x y'), 'Bearer realm="portcullis", error="invalid_request", error_description="x y"')
  t.equal(c.insufficientScope(['orders:write', 'admin']), 'Bearer realm="portcullis", error="insufficient_scope", scope="orders:write admin"')
  t.throws(() => bearerChallenges('a"b'), TypeError, 'a realm that would break the quoted-string is refused')
})
