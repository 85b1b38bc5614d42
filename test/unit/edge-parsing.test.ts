// The two parsers every edge decision starts from, as pure logic (no server): the bearer credentials
// (RFC 6750 §2.1 header syntax, §3 challenges; RFC 9110 §11.1) and the canonical path (RFC 3986 §2,
// §6.2.2; security-catalogue §4, SECURITY.md P rows): the main tables, then the boundary rows.
import t from 'tap'
import { bearerChallenges, countAuthorization, MALFORMED, NO_TOKEN, parseAuthorization, queryHasAccessToken } from '../../src/pipeline/bearer.js'
import { canonicalize } from '../../src/pipeline/canonical-path.js'

// RFC 6750 §2.1 Authorization header syntax and §3 challenges (pure parsing; no server).

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

// security-catalogue §4: one canonical path, produced once; ambiguous targets refused.

const accepted: Array<[string, string, string, string]> = [
  // [raw target, canonical path, query, what it proves]
  ['/orders/42', '/orders/42', '', 'a plain path is kept'],
  ['/orders/42?x=1&y=%2F', '/orders/42', 'x=1&y=%2F', 'the query is split off and kept verbatim'],
  ['/%6Frders/%34%32', '/orders/42', '', 'RFC 3986 §6.2.2.2: encoded unreserved characters are decoded (P14)'],
  ['/a/caf%c3%a9', '/a/caf%C3%A9', '', 'RFC 3986 §6.2.2.1: other triplets kept, hex upper-cased'],
  ['/a/b;jsessionid=1', '/a/b;jsessionid=1', '', 'matrix parameters are ordinary characters (P12)'],
  ['/orders/', '/orders/', '', 'one trailing slash is allowed'],
  ['/', '/', '', 'the root'],
  ['/a/.well', '/a/.well', '', 'a segment starting with a dot is not a dot segment'],
  ['/a/x?/../../admin', '/a/x', '/../../admin', 'dots in the query stay query (P18)'],
  ['/a/.hidden/b', '/a/.hidden/b', '', 'one leading dot: an ordinary segment'],
  ['/a/a..b/c', '/a/a..b/c', '', 'two dots inside a segment: an ordinary segment']
]

const refused: Array<[string, string]> = [
  ['http://127.0.0.1/orders/1', 'absolute-form (P20, P21)'],
  ['*', 'asterisk-form'],
  ['', 'empty target'],
  ['/public/../admin/x', 'dot-dot segment (P01)'],
  ['/public/./x', 'dot segment'],
  ['/public/%2e%2e/admin/x', 'encoded dot-dot (P02)'],
  ['/public/%2E%2E/admin/x', 'encoded dot-dot, upper case (P02)'],
  ['/public/.%2e/admin/x', 'half-encoded dot-dot (P02)'],
  ['/public/..%2fadmin/x', 'encoded slash after dots (P03)'],
  ['/public/x%2Fy', 'encoded slash anywhere (P15)'],
  ['/public/..\\admin/x', 'raw backslash (P04)'],
  ['/public/..%5cadmin/x', 'encoded backslash (P04)'],
  ['/public/..;/admin/x', 'Tomcat-style dot-dot with parameters (P05)'],
  ['/public/%2e%2e;x=1/admin', 'encoded dot-dot with parameters (P05)'],
  ['/public/%252e%252e%252fadmin/x', 'double encoding (P06)'],
  ['/public/%c0%ae%c0%ae/admin/x', 'overlong UTF-8 (P07)'],
  ['/public/%ff', 'invalid UTF-8'],
  ['/public//admin/x', 'empty segment (P09)'],
  ['//admin/x', 'leading double slash (P09)'],
  ['/public/x%00/../../admin', 'encoded NUL (P16)'],
  ['/public/x\u0000', 'raw NUL (P16)'],
  ['/public/x#/../../admin/x', 'fragment on the wire (P17)'],
  ['/public/a b', 'space in the path (P23)'],
  ['/public/a\tb', 'tab in the path (P23)'],
  ['/public/%0d%0aX-Injected:1', 'encoded CRLF'],
  ['/public/%zz', 'malformed triplet'],
  ['/public/%4', 'truncated triplet'],
  ['/public/caf\u00e9', 'raw non-ASCII byte'],
  ['/public/x?a=b c', 'space in the query'],
  ['/public/x?a=#b', 'fragment in the query'],
  // issue 9 item 10: one rule, here, for what the forwarding library would refuse later
  ['/files/..hidden', 'a segment starting with .. (not a dot segment, but never forwardable)'],
  ['/a/.../b', 'a segment of three dots'],
  ['/a/%2e%2ehidden', 'an encoded segment starting with ..'],
  ['/a/..hidden;x=1/b', 'a segment starting with .. with parameters'],
  ['/a/b../c', 'a segment ending with .. before another'],
  ['/a/b..', 'a last segment ending with ..']
]

t.test('canonical paths that are accepted', async (t) => {
  for (const [raw, path, query, why] of accepted) {
    t.same(canonicalize(raw), { ok: true, path, query }, why)
  }
})

t.test('ambiguous or malformed targets are refused', async (t) => {
  for (const [raw, why] of refused) {
    const r = canonicalize(raw)
    t.equal(r.ok, false, `${why}: ${JSON.stringify(raw)}`)
  }
})

t.test('issue 9 item 10: segments starting or ending with .. are refused with their own reason', async (t) => {
  t.same(canonicalize('/files/..hidden'), { ok: false, reason: 'path segment starting with ..' })
  t.same(canonicalize('/a/.../b'), { ok: false, reason: 'path segment starting with ..' })
  t.same(canonicalize('/a/b../c'), { ok: false, reason: 'path segment ending with ..' })
  t.same(canonicalize('/a/../b'), { ok: false, reason: 'dot segment in path' }, 'exact .. keeps its RFC 3986 §3.3 reason')
})

t.test('canonicalize is idempotent on what it accepts', async (t) => {
  for (const [raw] of accepted) {
    const once = canonicalize(raw)
    if (!once.ok) { t.fail(raw); continue }
    const twice = canonicalize(once.path)
    t.same(twice, { ok: true, path: once.path, query: '' }, `stable: ${raw}`)
  }
})

// Boundary rows for the two parsers every edge decision starts from: the bearer credentials
// (RFC 6750 §2.1, §3; RFC 9110 §11.1) and the canonical path (RFC 3986 §2, §6.2.2; SECURITY.md
// P rows). Each row sits on one edge of a character class or a length, so an off-by-one in either
// parser changes an answer here. The main tables: above in this file.

t.test('RFC 6750 §2.1: `Bearer` SP b64token, at the edges of the field', async (t) => {
  const rows: Array<[string, unknown, string]> = [
    ['Bearer ', NO_TOKEN, 'scheme and the space, no token'],
    ['Bearer\t', MALFORMED, 'scheme and a tab'],
    ['Bearer x', 'x', 'a one-character token'],
    ['Bearer\tx', MALFORMED, 'a tab ends the scheme too: malformed, not another scheme'],
    ['Bearer x\t', MALFORMED, 'a trailing tab'],
    ['Bearer  ', MALFORMED, 'two spaces, nothing else'],
    ['Bearerx', null, 'no separator: another scheme'],
    ['Beare x', null, 'a shorter scheme'],
    ['Bearer', NO_TOKEN, 'the scheme alone'],
    ['bearer x', 'x', 'lower case'],
    ['Bearer ' + 'a'.repeat(4096), 'a'.repeat(4096), 'a long token is handed on whole (its length is checked later, J36)'],
    ['Bea@er x', null, '`@` | 0x20 is not `r`'],
    ['BEARER\u00a0x', null, 'a no-break space is no separator']
  ]
  for (const [value, expected, why] of rows) t.equal(parseAuthorization(value), expected, `${why}: ${JSON.stringify(value)}`)
})

t.test('RFC 6750 §3.1: the count of Authorization fields looks at names only, exact length', async (t) => {
  t.equal(countAuthorization([]), 0)
  t.equal(countAuthorization(['X-Note', 'Authorization']), 0, 'a value that reads "Authorization" is no field')
  t.equal(countAuthorization(['Authorization-X', 'a', 'Authorizatio', 'b']), 0, 'longer and shorter names are other fields')
  t.equal(countAuthorization(['Cache-Control', 'no-cache', 'Authorizatiom', 'x', 'authorization\u0000', 'y']), 0, 'same length, another name')
  t.equal(countAuthorization(['AuThOrIzAtIoN', 'a']), 1)
  t.equal(countAuthorization(['authorization', 'a', 'x', 'authorization', 'authorization', 'b']), 2, 'names at even positions only')
})

t.test('RFC 6750 §2.3: access_token among other parameters, at the ends of the query', async (t) => {
  const yes = ['x=1&access_token', 'access_token&x=1', 'x&access_token=', '%61ccess_token=1', 'access_toke%6E=1', 'a=1&b=2&%61ccess%5Ftoken']
  const no = ['x=access_token', 'access_token_x=1', 'xaccess_token=1', 'a=1&&b=2', '&', 'access_to%6Bens=1', '%61ccess_token%3D1=2', 'a=access%5Ftoken', 'acc%65ss+_token=1', 'acc%65ss_token+=1']
  for (const q of yes) t.ok(queryHasAccessToken(q), q)
  for (const q of no) t.notOk(queryHasAccessToken(q), q)
})

t.test('RFC 6750 §3: each challenge kind is built from its own text (no cache mix-up)', async (t) => {
  const c = bearerChallenges('api')
  t.equal(c.invalidToken('same words'), 'Bearer realm="api", error="invalid_token", error_description="same words"')
  t.equal(c.invalidRequest('same words'), 'Bearer realm="api", error="invalid_request", error_description="same words"')
  t.equal(c.invalidToken('same words'), 'Bearer realm="api", error="invalid_token", error_description="same words"', 'again, from the cache')
  t.equal(c.invalidRequest('other'), 'Bearer realm="api", error="invalid_request", error_description="other"')
  t.equal(c.invalidToken('other'), 'Bearer realm="api", error="invalid_token", error_description="other"')
  t.equal(c.insufficientScope([]), 'Bearer realm="api", error="insufficient_scope", scope=""')
})

t.test('RFC 9110 §11.4: a realm is printable ASCII without `"` or `\\` (it is written inside a quoted-string)', async (t) => {
  for (const ok of [' !#[]~', 'a', 'portcullis gateway']) t.equal(bearerChallenges(ok).bare, `Bearer realm="${ok}"`, JSON.stringify(ok))
  for (const bad of ['', 'a\\b', '"', 'a\u007f', 'a\u001f', 'caf\u00e9', 'a\nb', 'ok"', '"ok']) {
    t.throws(() => bearerChallenges(bad), { name: 'TypeError', message: 'realm must be printable ASCII without " or \\' }, JSON.stringify(bad))
  }
})

t.test('RFC 3986 §6.2.2.1, §6.2.2.2: every hex digit, both cases; unreserved decoded, the rest kept upper-case', async (t) => {
  const rows: Array<[string, string]> = [
    ['/%30%39', '/09'], ['/%41%46%61%66', '/AFaf'], ['/%4a%4A', '/JJ'], ['/%7e%7E', '/~~'],
    ['/%2d%2e%5f', '/-._'], ['/%3a%3A', '/%3A%3A'], ['/%40', '/%40'], ['/%3f%3F', '/%3F%3F'], ['/%20', '/%20'],
    ['/%21%24%26', '/%21%24%26'], ['/%60', '/%60'], ['/%5b%5d', '/%5B%5D'], ['/%7b', '/%7B'],
    ['/%c3%a9', '/%C3%A9'], ['/%C3%A9', '/%C3%A9'], ['/%e2%82%ac', '/%E2%82%AC'], ['/%cb%bf', '/%CB%BF'], ['/%db%bf%d9%8a', '/%DB%BF%D9%8A']
  ]
  for (const [raw, path] of rows) t.same(canonicalize(raw), { ok: true, path, query: '' }, raw)
})

t.test('RFC 3986 §2.1: a triplet needs two hex digits; the characters next to the digit ranges are not digits', async (t) => {
  for (const raw of ['/%/0', '/%:0', '/%@0', '/%G0', '/%`0', '/%g0', '/%0/', '/%0:', '/%0@', '/%0G', '/%0`', '/%0g', '/%', '/a%', '/%%30']) {
    t.same(canonicalize(raw), { ok: false, reason: 'malformed percent-encoding' }, raw)
  }
})

t.test('P15, P16: the refused bytes, each at the edge of its range', async (t) => {
  const rows: Array<[string, string]> = [
    ['/%00', 'encoded control character'], ['/%1f', 'encoded control character'], ['/%1F', 'encoded control character'],
    ['/%7f', 'encoded control character'], ['/%2f', 'encoded slash or backslash'], ['/%5C', 'encoded slash or backslash'],
    ['/%25', 'encoded percent sign (double encoding)'], ['/%80', 'invalid UTF-8 in path'], ['/%c3', 'invalid UTF-8 in path'],
    ['/a\u0080', 'character not allowed in path'], ['/a\u007f', 'character not allowed in path'], ['/a\u001f', 'character not allowed in path'],
    ['/a"', 'character not allowed in path'], ['/a<', 'character not allowed in path'], ['/a^', 'character not allowed in path'],
    ['/a`', 'character not allowed in path'], ['/a{', 'character not allowed in path'], ['/a|', 'character not allowed in path'],
    ['/a%', 'malformed percent-encoding']
  ]
  for (const [raw, reason] of rows) t.same(canonicalize(raw), { ok: false, reason }, raw)
  t.same(canonicalize('/' + "-._~!$&'()*+,;=:@azAZ09"), { ok: true, path: '/' + "-._~!$&'()*+,;=:@azAZ09", query: '' }, 'every other allowed character is kept')
})

t.test('P01, P09: dot and empty segments, wherever they are', async (t) => {
  const rows: Array<[string, string | null]> = [
    ['/.', 'dot segment in path'], ['/..', 'dot segment in path'], ['/a/.', 'dot segment in path'], ['/a/..', 'dot segment in path'],
    ['/./a', 'dot segment in path'], ['/a/..;x', 'dot segment in path'], ['/a/.;x/b', 'dot segment in path'], ['/%2E', 'dot segment in path'],
    ['/a//', 'empty path segment'], ['//', 'empty path segment'], ['/a//b', 'empty path segment'],
    // issue 9 item 10: a segment starting or ending with `..` is refused too (the forwarder would refuse it)
    ['/...', 'path segment starting with ..'], ['/.a', null], ['/a..', 'path segment ending with ..'], ['/..a', 'path segment starting with ..'],
    ['/.;x', 'dot segment in path'], ['/a/;x', null], ['/a/', null]
  ]
  for (const [raw, reason] of rows) {
    const r = canonicalize(raw)
    if (reason === null) t.same(r, { ok: true, path: raw.replace('%2E', '.'), query: '' }, raw)
    else t.same(r, { ok: false, reason }, raw)
  }
})

t.test('P17, P18: the query is everything after the first `?`; only its control, space, `#` and non-ASCII bytes are refused', async (t) => {
  t.same(canonicalize('/a?'), { ok: true, path: '/a', query: '' })
  t.same(canonicalize('/a?b?c'), { ok: true, path: '/a', query: 'b?c' })
  t.same(canonicalize('/?!~%zz\\"'), { ok: true, path: '/', query: '!~%zz\\"' }, 'the query is not decoded or judged beyond its bytes')
  t.same(canonicalize('/%61?%2F'), { ok: true, path: '/a', query: '%2F' })
  for (const q of ['a\u007f', 'a\u0080', 'a\u001f', 'a b', 'a\u0000', 'a#', 'caf\u00e9']) {
    t.same(canonicalize(`/a?${q}`), { ok: false, reason: 'character not allowed in query' }, JSON.stringify(q))
  }
})
