// Forged and malformed bearer tokens at the edge (security-catalogue §2; RFC 8725, RFC 9068 §4,
// RFC 6750 §3.1). Every row is one attack with the sentence it proves; the whole table runs
// against a gateway of each signing algorithm. Each row asserts the status, the JSON body and the
// full WWW-Authenticate, and that the upstream saw nothing; none may ever be a 5xx.
import t from 'tap'
import { createPrivateKey } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateKeyRecord } from '../../src/oauth/keys.js'
import type { SigningAlg } from '../../src/store/types.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { rawRequest } from '../helpers/raw-http.js'
import { b64, b64json, foreignKey, forge, mint, ringHeader, ringPublicPem, userClaims, type ForgeKey, type ForgeOptions } from '../helpers/tokens.js'

const echo = await startEchoUpstream()
t.teardown(() => echo.close())

// A listener that must never be contacted (jku, x5u, kid command injection).
let listenerHits = 0
const listener: Server = createServer((_req, res) => { listenerHits++; res.end('{}') })
await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
const LISTENER = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`
t.teardown(() => new Promise<void>((resolve) => listener.close(() => resolve())))

const ROUTES = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /me
    upstream: echo
`

const REALM = 'Bearer realm="portcullis"'
const INVALID = { status: 401, challenge: `${REALM}, error="invalid_token", error_description="The access token is invalid"`, body: { error: 'invalid_token', error_description: 'The access token is invalid' } }
const EXPIRED = { status: 401, challenge: `${REALM}, error="invalid_token", error_description="The access token expired"`, body: { error: 'invalid_token', error_description: 'The access token expired' } }
const BARE = { status: 401, challenge: REALM, body: { error: 'invalid_token', error_description: 'Missing bearer token' } }
const BAD_REQUEST = (d: string) => ({ status: 400, challenge: `${REALM}, error="invalid_request", error_description="${d}"`, body: { error: 'invalid_request', error_description: d } })

interface Expect { status: number; challenge: string; body: Record<string, unknown> }
interface Req { query?: string; headers?: Record<string, string>; method?: string; body?: string }
interface Row {
  id: string
  proves: string
  /** The bearer token (sent as `Authorization: Bearer <token>`)... */
  token?: (gw: TestGateway) => string
  /** ...or the whole request. */
  request?: (gw: TestGateway) => Req
  expect?: Expect // default INVALID
  only?: SigningAlg
}

const now = (): number => Math.floor(Date.now() / 1000)
const claims = (gw: TestGateway, over: Record<string, unknown> = {}) => userClaims(gw.config, over)
/** Claims with the ring's own valid signature: only the claim under test is wrong. */
const signed = (over: Record<string, unknown>) => (gw: TestGateway) => mint(gw.keys, claims(gw, over))
/** A forgery with `header` overrides over the ring's header, signed with `key`. */
const forged = (header: Record<string, unknown>, key: ForgeKey = { kind: 'ring' }, payload?: ForgeOptions['payload']) =>
  (gw: TestGateway) => forge(gw.keys, { header: ringHeader(gw.keys, header), payload: payload ?? claims(gw), key })
const withPayload = (payload: ForgeOptions['payload']) => (gw: TestGateway) => forge(gw.keys, { header: ringHeader(gw.keys), payload, key: { kind: 'ring' } })
const hmacWith = (secret: (gw: TestGateway) => string | Buffer, alg = 'HS256', extra: Record<string, unknown> = {}) => (gw: TestGateway) =>
  forge(gw.keys, { header: ringHeader(gw.keys, { alg, ...extra }), payload: claims(gw), key: { kind: 'hmac', secret: secret(gw) } })
const foreign = (header: Record<string, unknown> = {}) => (gw: TestGateway) => {
  const f = foreignKey(gw.keys)
  return forge(gw.keys, { header: ringHeader(gw.keys, header), payload: claims(gw), key: { kind: 'private', key: f.key, alg: f.alg } })
}
const valid = (gw: TestGateway) => mint(gw.keys, claims(gw))
const parts = (tok: string) => tok.split('.') as [string, string, string]
const flipMiddle = (s: string) => { const i = Math.floor(s.length / 2); return s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1) }
const pubDer = (gw: TestGateway) => {
  const pem = ringPublicPem(gw.keys)
  return pem.replace(/-----[A-Z ]+-----|\s/g, '')
}

const ROWS: Row[] = [
  // 2.1 algorithm and signature
  { id: 'J02', proves: 'alg none with an empty signature is refused (RFC 8725 §3.2)', token: forged({ alg: 'none' }, { kind: 'none' }) },
  { id: 'J03a', proves: 'alg None (case variant) is refused', token: forged({ alg: 'None' }, { kind: 'none' }) },
  { id: 'J03b', proves: 'alg NONE is refused', token: forged({ alg: 'NONE' }, { kind: 'none' }) },
  { id: 'J03c', proves: 'alg nOnE is refused', token: forged({ alg: 'nOnE' }, { kind: 'none' }) },
  { id: 'J04', proves: 'alg none with a non-empty signature is refused, not a 500 (RFC 8725 §3.1)', token: forged({ alg: 'none' }, { kind: 'raw', signature: b64('signature') }) },
  { id: 'J05a', proves: 'HS256 keyed with the exact public-key PEM is refused (algorithm confusion)', token: hmacWith((gw) => ringPublicPem(gw.keys)) },
  { id: 'J05b', proves: 'HS256 keyed with the PEM without trailing newline is refused', token: hmacWith((gw) => ringPublicPem(gw.keys).trimEnd()) },
  { id: 'J05c', proves: 'HS256 keyed with the PEM in CRLF is refused', token: hmacWith((gw) => ringPublicPem(gw.keys).replaceAll('\n', '\r\n')) },
  { id: 'J05d', proves: 'HS256 keyed with the base64 DER public key is refused', token: hmacWith(pubDer) },
  { id: 'J05e', proves: 'HS256 keyed with the published JWK text is refused', token: hmacWith((gw) => JSON.stringify(gw.keys.jwks()[0])) },
  { id: 'J05f', proves: 'HS256 keyed with a BOM-prefixed PEM is refused', token: hmacWith((gw) => '\ufeff' + ringPublicPem(gw.keys)) },
  { id: 'J06', proves: 'HS384/HS512 keyed with the public key are refused (each key one algorithm)', token: hmacWith((gw) => ringPublicPem(gw.keys), 'HS512') },
  { id: 'J07a', proves: 'RS384 is not on the allowlist', token: forged({ alg: 'RS384' }) },
  { id: 'J07b', proves: 'PS256 is not on the allowlist', token: forged({ alg: 'PS256' }) },
  { id: 'J07c', proves: 'ES256K is not on the allowlist', token: forged({ alg: 'ES256K' }) },
  { id: 'J07d', proves: 'a lower-case alg (es256) is not an alias (RFC 7515 §4.1.1 case-sensitive)', token: (gw) => forged({ alg: gw.keys.signingKey().alg.toLowerCase() })(gw) },
  { id: 'J07e', proves: 'a known alg that is not the kid\'s key alg is refused (RFC 8725 §3.1: the key decides)', token: (gw) => forged({ alg: gw.keys.signingKey().alg === 'ES256' ? 'RS256' : 'ES256' })(gw) },
  { id: 'J07f', proves: 'alg missing is refused', token: forged({ alg: undefined }) },
  { id: 'J08', proves: 'a stripped signature (h.p.) is refused (RFC 8725 §3.3)', token: (gw) => { const [h, p] = parts(valid(gw)); return `${h}.${p}.` } },
  { id: 'J09', proves: 'two segments (h.p) are refused (RFC 7515 §7.1)', token: (gw) => { const [h, p] = parts(valid(gw)); return `${h}.${p}` } },
  { id: 'J10', proves: 'a signature by another key under our kid is refused (RFC 7515 §5.2)', token: foreign() },
  { id: 'J11a', proves: 'a truncated signature is refused', token: (gw) => valid(gw).slice(0, -10) },
  { id: 'J11b', proves: 'a signature with one character flipped is refused', token: (gw) => { const [h, p, s] = parts(valid(gw)); return `${h}.${p}.${flipMiddle(s)}` } },
  { id: 'J11c', proves: 'base64 (+/=) instead of base64url is refused', token: (gw) => { const [h, p, s] = parts(valid(gw)); return `${h}.${p}.${Buffer.from(s, 'base64url').toString('base64')}` } },
  { id: 'J11d', proves: 'a non-canonical signature encoding (spare low bits set) is refused: no token malleability', only: 'ES256', token: (gw) => {
    const tok = valid(gw)
    const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = A.indexOf(tok.at(-1)!) // 64-byte signature: 86 chars, the last one carries 4 spare bits
    return tok.slice(0, -1) + A[(last & ~15) | ((last + 1) & 15)]!
  } },
  { id: 'J12a', proves: 'a payload with a widened scope under the old signature is refused', token: (gw) => { const [h, , s] = parts(valid(gw)); return `${h}.${b64json(claims(gw, { scope: 'read admin' }))}.${s}` } },
  { id: 'J12b', proves: 'a payload with another sub under the old signature is refused', token: (gw) => { const [h, , s] = parts(valid(gw)); return `${h}.${b64json(claims(gw, { sub: 'admin' }))}.${s}` } },
  { id: 'J13a', only: 'ES256', proves: 'an all-zero ES256 signature is refused (CVE-2022-21449)', token: (gw) => { const [h, p] = parts(valid(gw)); return `${h}.${p}.${b64(Buffer.alloc(64))}` } },
  { id: 'J13b', only: 'ES256', proves: 'an ES256 signature of 63 bytes is refused', token: (gw) => { const [h, p, s] = parts(valid(gw)); return `${h}.${p}.${b64(Buffer.from(s, 'base64url').subarray(0, 63))}` } },
  { id: 'J13c', only: 'ES256', proves: 'an ES256 signature of 65 bytes is refused', token: (gw) => { const [h, p, s] = parts(valid(gw)); return `${h}.${p}.${b64(Buffer.concat([Buffer.from(s, 'base64url'), Buffer.alloc(1)]))}` } },
  { id: 'J14', proves: 'HS256 with an empty secret is refused (RFC 8725 §3.5)', token: hmacWith(() => '') },
  { id: 'J15', proves: 'HS256 with a common secret is refused', token: hmacWith(() => 'secret') },

  // 2.2 key selection and key-carrying headers
  { id: 'J16', proves: 'a path-traversal kid with an empty HS256 key is refused', token: hmacWith(() => '', 'HS256', { kid: '../../../../../../dev/null' }) },
  { id: 'J17a', proves: 'kid = the null device is refused', token: foreign({ kid: '/dev/null' }) },
  { id: 'J17b', proves: 'kid = an absolute path that does not exist is refused', token: foreign({ kid: '/nonexistent/portcullis/key.pem' }) },
  { id: 'J18', proves: 'an SQL-injection kid with HS256 key 1 is refused', token: hmacWith(() => '1', 'HS256', { kid: "x' UNION SELECT '1';--" }) },
  { id: 'J19a', proves: 'a shell-injection kid is refused', token: foreign({ kid: '|sleep 10' }) },
  { id: 'J19b', proves: 'a curl kid never reaches the listener', token: foreign({ kid: `| curl ${LISTENER}/kid` }) },
  { id: 'J20', proves: 'an unknown kid is refused', token: foreign({ kid: 'unknown-kid' }) },
  { id: 'J21a', proves: 'a 10 000-character kid is refused', token: foreign({ kid: 'k'.repeat(10_000) }), expect: INVALID },
  { id: 'J21b', proves: 'a numeric kid is refused', token: forged({ kid: 7 }) },
  { id: 'J21c', proves: 'an object kid is refused', token: forged({ kid: { a: 1 } }) },
  { id: 'J21d', proves: 'an empty kid is refused', token: forged({ kid: '' }) },
  { id: 'J22', proves: 'jku is never fetched: a token signed by the key it points to is refused', token: foreign({ jku: `${LISTENER}/jwks.json`, kid: 'attacker' }) },
  { id: 'J23a', proves: 'x5u is never fetched', token: foreign({ x5u: `${LISTENER}/cert.pem`, kid: 'attacker' }) },
  { id: 'J23b', proves: 'an x5c chain is never trusted', token: foreign({ x5c: [b64('not a certificate')] }) },
  { id: 'J24', proves: 'an embedded jwk is never trusted (CVE-2018-0114)', token: (gw) => { const f = foreignKey(gw.keys); return forge(gw.keys, { header: ringHeader(gw.keys, { jwk: f.publicKey.export({ format: 'jwk' }) }), payload: claims(gw), key: { kind: 'private', key: f.key, alg: f.alg } }) } },
  { id: 'J25', proves: 'an unknown critical extension is refused even when validly signed (RFC 7515 §4.1.11)', token: forged({ crit: ['x-unknown'], 'x-unknown': 1 }) },
  { id: 'J26a', proves: 'crit: [] is refused', token: forged({ crit: [] }) },
  { id: 'J26b', proves: 'crit naming a registered header (alg) is refused', token: forged({ crit: ['alg'] }) },
  { id: 'J26c', proves: 'crit naming an absent header is refused', token: forged({ crit: ['exp'] }) },

  // 2.3 structure and parsing
  { id: 'J27', proves: 'a header that is not JSON is refused', token: (gw) => { const [, p, s] = parts(valid(gw)); return `${b64('not json')}.${p}.${s}` } },
  { id: 'J28a', proves: 'a validly signed array payload is refused, not a 500', token: withPayload([1, 2]) },
  { id: 'J28b', proves: 'a validly signed number payload is refused', token: withPayload(42) },
  { id: 'J28c', proves: 'a validly signed string payload is refused', token: withPayload('"alice"') },
  { id: 'J28d', proves: 'a validly signed null payload is refused', token: withPayload(null) },
  { id: 'J29', proves: 'a duplicate alg header member ending in none is refused (last member wins, consistently)', token: (gw) => { const k = gw.keys.signingKey(); return forge(gw.keys, { header: `{"alg":"${k.alg}","typ":"at+jwt","kid":"${k.kid}","alg":"none"}`, payload: claims(gw), key: { kind: 'ring' } }) } },
  { id: 'J31', proves: 'a deeply nested payload is refused quickly, without a crash', token: withPayload('['.repeat(3000) + ']'.repeat(3000)) },
  { id: 'J32', proves: 'invalid UTF-8 inside a validly signed claim is refused (never a header)', token: (gw) => {
    const [a, b] = JSON.stringify(claims(gw, { sub: 'SUBJ' })).split('SUBJ') as [string, string]
    return forge(gw.keys, { header: ringHeader(gw.keys), payload: Buffer.concat([Buffer.from(a), Buffer.from([0x61, 0xff, 0xfe]), Buffer.from(b)]), key: { kind: 'ring' } })
  } },
  { id: 'J33', proves: 'a JWE (5 segments) is refused', token: () => 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d' },
  { id: 'J34', proves: 'a JWS JSON serialization is refused as a token, not a request error', token: (gw) => { const [h, p, s] = parts(valid(gw)); return JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] }) } },
  { id: 'J36', proves: 'a 14 KB token (under the 16 KiB header limit) is refused in bounded time', token: (gw) => mint(gw.keys, claims(gw, { scope: 'a '.repeat(5000) + 'b' })) },

  // 2.4 claims and time
  { id: 'J38', proves: 'exp in the past beyond the skew is invalid_token "expired" (RFC 7519 §4.1.4)', token: signed({ iat: now() - 4000, exp: now() - 3600 }), expect: EXPIRED },
  { id: 'J39', proves: 'exp one second past the skew is expired (boundary)', token: (gw) => signed({ iat: now() - 4000, exp: now() - gw.config.CLOCK_SKEW - 1 })(gw), expect: EXPIRED },
  { id: 'J40', proves: 'exp missing is refused (RFC 9068 §2.2)', token: signed({ exp: undefined }) },
  { id: 'J41a', proves: 'exp as a string is refused, not a 500', token: signed({ exp: String(now() + 900) }) },
  { id: 'J41b', proves: 'exp as a float is refused', token: signed({ exp: now() + 900.5 }) },
  { id: 'J41c', proves: 'a negative exp is refused', token: signed({ exp: -1 }) },
  { id: 'J41d', proves: 'exp 1e308 is refused', token: signed({ exp: 1e308 }) },
  { id: 'J41e', proves: 'exp as an array is refused', token: signed({ exp: [now() + 900] }) },
  { id: 'J41f', proves: 'exp null is refused', token: signed({ exp: null }) },
  { id: 'J42', proves: 'nbf in the future beyond the skew is refused, not a 500', token: signed({ nbf: now() + 3600 }) },
  { id: 'J43', proves: 'iat one hour in the future is refused', token: signed({ iat: now() + 3600, exp: now() + 4500 }) },
  { id: 'J44', proves: 'iat missing is refused', token: signed({ iat: undefined }) },
  { id: 'J45a', proves: 'a wrong iss is refused', token: signed({ iss: 'https://evil.example' }) },
  { id: 'J45b', proves: 'iss with a trailing slash is refused (exact match)', token: (gw) => signed({ iss: `${gw.config.issuer}/` })(gw) },
  { id: 'J45c', proves: 'iss in another case is refused', token: (gw) => signed({ iss: gw.config.issuer.toUpperCase() })(gw) },
  { id: 'J45d', proves: 'iss as an array holding the real issuer is refused (CVE-2025-30144)', token: (gw) => signed({ iss: [gw.config.issuer] })(gw) },
  { id: 'J46', proves: 'iss missing is refused', token: signed({ iss: undefined }) },
  { id: 'J47a', proves: 'a wrong aud is refused (RFC 9068 §4)', token: signed({ aud: 'another-api' }) },
  { id: 'J47b', proves: 'an aud array without our audience is refused', token: signed({ aud: ['a', 'b'] }) },
  { id: 'J47c', proves: 'aud missing is refused', token: signed({ aud: undefined }) },
  { id: 'J47d', proves: 'aud as a number is refused', token: signed({ aud: 1 }) },
  { id: 'J48', proves: 'sub missing is refused (never the header value "undefined")', token: signed({ sub: undefined }) },
  { id: 'J49a', proves: 'sub as a number is refused', token: signed({ sub: 42 }) },
  { id: 'J49b', proves: 'client_id as an object is refused', token: signed({ client_id: { id: 'x' } }) },
  { id: 'J49c', proves: 'scope as an array is refused', token: signed({ scope: ['read', 'admin'] }) },
  { id: 'J50a', proves: 'sub with CR LF is refused: no header splitting upstream', token: signed({ sub: 'a\r\nX-Admin: 1' }) },
  { id: 'J50b', proves: 'sub with NUL is refused', token: signed({ sub: 'a\u0000b' }) },
  { id: 'J50c', proves: 'non-ASCII sub is refused', token: signed({ sub: 'caf\u00e9' }) },
  { id: 'J50d', proves: 'scope with LF is refused', token: signed({ scope: 'read\nX-Admin: 1' }) },
  { id: 'J50e', proves: 'client_id with a space is refused', token: signed({ client_id: 'mobile app' }) },
  { id: 'J51a', proves: 'client_id missing is refused', token: signed({ client_id: undefined }) },
  { id: 'J51b', proves: 'jti missing is refused', token: signed({ jti: undefined }) },
  { id: 'J52', proves: 'a client subject naming another client is refused (RFC 9700 §4.15.1)', token: signed({ sub: 'client:admin-tool', client_id: 'mobile', sid: undefined }) },

  // 2.5 typing
  { id: 'J53a', proves: 'typ JWT (ID-token style) is refused (RFC 9068 §4)', token: forged({ typ: 'JWT' }) },
  { id: 'J53b', proves: 'typ missing is refused', token: forged({ typ: undefined }) },
  { id: 'J53c', proves: 'typ application/jwt is refused', token: forged({ typ: 'application/jwt' }) },
  { id: 'J55', proves: 'an ID-token-shaped token (aud = client_id, nonce, typ JWT) is refused', token: (gw) => forge(gw.keys, { header: ringHeader(gw.keys, { typ: 'JWT' }), payload: claims(gw, { aud: 'mobile', nonce: 'n' }), key: { kind: 'ring' } }) },
  { id: 'J56', proves: 'an opaque refresh-token-like string is refused', token: () => b64(Buffer.alloc(32, 7)) },
  { id: 'J57', proves: 'a token from another environment (other issuer, same key) is refused', token: signed({ iss: 'https://staging.example' }) },

  // 2.6 how the token travels
  { id: 'J59a', proves: 'Bearer with two spaces is a malformed request', request: (gw) => ({ headers: { authorization: `Bearer  ${valid(gw)}` } }), expect: BAD_REQUEST('Malformed Authorization header') },
  { id: 'J59b', proves: 'Bearer with an extra part is a malformed request', request: (gw) => ({ headers: { authorization: `Bearer ${valid(gw)} extra` } }), expect: BAD_REQUEST('Malformed Authorization header') },
  { id: 'J59c', proves: 'Bearer alone is a malformed request', request: () => ({ headers: { authorization: 'Bearer' } }), expect: BAD_REQUEST('Bearer scheme without a token') },
  { id: 'J59d', proves: 'a tab separator is a malformed request', request: (gw) => ({ headers: { authorization: `Bearer\t${valid(gw)}` } }), expect: BAD_REQUEST('Malformed Authorization header') },
  { id: 'J61', proves: 'a token only in the query is no credential: bare challenge (RFC 6750 §2.3)', request: (gw) => ({ query: `access_token=${valid(gw)}` }), expect: BARE },
  { id: 'J62', proves: 'a token only in a form body is no credential (RFC 6750 §2.2; the body is never read)', request: (gw) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `access_token=${valid(gw)}` }), expect: BARE },
  { id: 'J63', proves: 'a token in the header and the query is a malformed request (RFC 6750 §2)', request: (gw) => ({ query: `access_token=${valid(gw)}`, headers: { authorization: `Bearer ${valid(gw)}` } }), expect: BAD_REQUEST('Bearer token sent in more than one way') },
  { id: 'J64', proves: 'Basic credentials get the bare Bearer challenge (RFC 6750 §3.1)', request: () => ({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }), expect: BARE },

  // appended for issue 5: rows the table above did not name yet
  { id: 'J37a', proves: 'a JWE-only p2c: 2147483647 header on a JWS is refused without doing the work', token: forged({ p2c: 2147483647, p2s: b64('salt') }) },
  { id: 'J37b', proves: 'a JWE-only zip: DEF header on a JWS is refused (no decompression)', token: forged({ zip: 'DEF' }) },
  { id: 'J70', proves: 'one algorithm per key: our own kid with alg HS256 and an empty HMAC key is refused (the key decides, never the token)', token: hmacWith(() => '', 'HS256') },
  { id: 'J71', proves: 'iss is compared as an exact string, never as a pattern: dots replaced by any character are refused', token: (gw) => signed({ iss: gw.config.issuer.replaceAll('.', 'x') })(gw) }
]

for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
  t.test(`forged and malformed tokens, ${alg} gateway`, async (t) => {
    const gw = await startTestGateway(t, { routes: ROUTES, env: { SIGNING_ALG: alg } })
    t.equal(gw.keys.signingKey().alg, alg)

    /** The slowest control answer: what a normal request costs on this machine right now. */
    let baselineMs = 0
    t.test('controls: J01 a good token passes, J54 typ application/at+jwt passes, J58 lower-case scheme passes', async (t) => {
      const good = valid(gw)
      for (const [why, headers] of [
        ['J01', { authorization: `Bearer ${good}` }],
        ['J54', { authorization: `Bearer ${forged({ typ: 'application/at+jwt' })(gw)}` }],
        ['J58', { authorization: `bearer ${good}` }],
        ['J39 boundary: exp within the skew', { authorization: `Bearer ${signed({ iat: now() - 100, exp: now() - gw.config.CLOCK_SKEW + 3 })(gw)}` }],
        ['J47 aud array holding ours', { authorization: `Bearer ${signed({ aud: ['other', gw.config.AUDIENCE] })(gw)}` }]
      ] as const) {
        const started = Date.now()
        const res = await fetch(`${gw.url}/me`, { headers })
        t.equal(res.status, 200, why)
        await res.arrayBuffer()
        baselineMs = Math.max(baselineMs, Date.now() - started)
      }
    })

    for (const row of ROWS) {
      if (row.only !== undefined && row.only !== alg) continue
      t.test(`${row.id}: ${row.proves}`, async (t) => {
        const expect = row.expect ?? INVALID
        const req: Req = row.request !== undefined ? row.request(gw) : { headers: { authorization: `Bearer ${row.token!(gw)}` } }
        const before = echo.seen.length
        const hitsBefore = listenerHits
        const started = Date.now()
        const res = await fetch(`${gw.url}/me${req.query !== undefined ? `?${req.query}` : ''}`, {
          method: req.method ?? 'GET', ...(req.headers !== undefined && { headers: req.headers }), ...(req.body !== undefined && { body: req.body })
        })
        const text = await res.text()
        t.ok(res.status < 500, `never a 5xx (got ${res.status})`)
        t.equal(res.status, expect.status)
        t.equal(res.headers.get('www-authenticate'), expect.challenge)
        t.same(JSON.parse(text), expect.body)
        t.equal(echo.seen.length, before, 'the upstream saw nothing')
        t.equal(listenerHits, hitsBefore, 'no outbound request (jku, x5u, kid)')
        // no hidden work (a p2c of 2^31, an outbound jku fetch): about what a normal request costs, measured above
        t.ok(Date.now() - started < 1000 + 10 * baselineMs, `answered in normal latency (${Date.now() - started} ms; controls ${baselineMs} ms)`)
      })
    }
  })
}

t.test('J35: a 100 KB Authorization header is refused by the HTTP parser (431), never a 5xx', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES })
  const res = await rawRequest(gw.port, `GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(100_000)}\r\nConnection: close\r\n\r\n`)
  t.equal(res.status, 431)
})

t.test('J30: a duplicate claim resolves last-wins, and the identity headers carry that same parsed value', async (t) => {
  // Only the key holder can sign one (our issuer never writes duplicates); the point is that the
  // gateway's decision and the headers it writes come from one parse (APISIX CVE-2022-25757).
  const gw = await startTestGateway(t, { routes: ROUTES })
  const c = claims(gw, { sub: 'admin', scope: 'read' })
  const json = JSON.stringify(c).replace('"sub":"admin"', '"sub":"u1","sub":"admin"')
  const tok = forge(gw.keys, { header: ringHeader(gw.keys), payload: json, key: { kind: 'ring' } })
  const before = echo.seen.length
  const res = await fetch(`${gw.url}/me`, { headers: { authorization: `Bearer ${tok}` } })
  t.equal(res.status, 200)
  t.equal(echo.seen.length, before + 1)
  t.equal(echo.seen.at(-1)!.headers['x-auth-subject'], 'admin')
})

t.test('J20: tokens with unknown kids re-read the key set at most once per interval (no refetch storm)', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES })
  const original = gw.store.listKeys.bind(gw.store)
  let reads = 0
  gw.store.listKeys = async () => { reads++; return await original() }
  t.teardown(() => { gw.store.listKeys = original })
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    fetch(`${gw.url}/me`, { headers: { authorization: `Bearer ${foreign({ kid: `unknown-${i}` })(gw)}` } }).then(async (r) => { await r.arrayBuffer(); return r.status })))
  t.same([...new Set(answers)], [401])
  t.ok(reads <= 1, `key set read ${reads} time(s) for 20 unknown kids`)
})

t.test('J66: revocation is checked on every request after verification: no cache lets a revoked token through', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES })
  const c = claims(gw)
  const tok = mint(gw.keys, c)
  t.equal((await fetch(`${gw.url}/me`, { headers: { authorization: `Bearer ${tok}` } }).then(async (r) => { await r.arrayBuffer(); return r.status })), 200, 'verified once')
  await gw.store.revokeToken(c.jti, c.exp)
  const before = echo.seen.length
  const res = await fetch(`${gw.url}/me`, { headers: { authorization: `Bearer ${tok}` } })
  t.equal(res.status, 401)
  t.equal(res.headers.get('www-authenticate'), `${REALM}, error="invalid_token", error_description="The access token was revoked"`)
  t.same(await res.json(), { error: 'invalid_token', error_description: 'The access token was revoked' })
  t.equal(echo.seen.length, before, 'the upstream saw nothing')
})

t.test('J69: a token signed by a removed key, and one by a key not yet published, are refused', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES })
  const old = mint(gw.keys, claims(gw))
  const oldKid = gw.keys.signingKey().kid
  const first = await fetch(`${gw.url}/me`, { headers: { authorization: `Bearer ${old}` } })
  await first.arrayBuffer()
  t.equal(first.status, 200, 'accepted (and cached, when a verification cache is on) before the key goes')
  const fresh = generateKeyRecord(gw.keys.signingKey().alg)
  await gw.store.addKey(fresh)
  await gw.keys.refresh()
  await gw.store.removeKey(oldKid)
  await gw.keys.refresh()
  t.equal(gw.keys.verificationKey(oldKid), null, 'the old key is gone from the ring')
  const unpublished = generateKeyRecord(fresh.alg)
  const early = forge(gw.keys, { header: { alg: unpublished.alg, typ: 'at+jwt', kid: unpublished.kid }, payload: claims(gw), key: { kind: 'private', key: createPrivateKey(unpublished.privateKeyPem), alg: unpublished.alg } })
  for (const [why, tok] of [['removed key', old], ['unpublished key', early]] as const) {
    const before = echo.seen.length
    const res = await fetch(`${gw.url}/me`, { headers: { authorization: `Bearer ${tok}` } })
    t.equal(res.status, 401, why)
    t.equal(res.headers.get('www-authenticate'), INVALID.challenge, why)
    t.same(await res.json(), INVALID.body, why)
    t.equal(echo.seen.length, before, `${why}: the upstream saw nothing`)
  }
})
