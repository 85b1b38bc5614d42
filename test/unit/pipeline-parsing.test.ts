// Boundary rows for the two parsers every edge decision starts from: the bearer credentials
// (RFC 6750 §2.1, §3; RFC 9110 §11.1) and the canonical path (RFC 3986 §2, §6.2.2; SECURITY.md
// P rows). Each row sits on one edge of a character class or a length, so an off-by-one in either
// parser changes an answer here. The main tables: test/unit/bearer.test.ts, test/unit/canonical-path.test.ts.
import t from 'tap'
import { bearerChallenges, countAuthorization, MALFORMED, NO_TOKEN, parseAuthorization, queryHasAccessToken } from '../../src/pipeline/bearer.js'
import { canonicalize } from '../../src/pipeline/canonical-path.js'

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
