// The OAuth 2.0 token, revocation and introspection endpoints, one row per catalogue case
// (security-catalogue §3 T01–T66; RFC 6749, RFC 7009, RFC 7662, RFC 9700). Cheap inject calls
// against the real gateway app (OAuth plugin + edge pipeline + echo upstream), so rows that end
// at the edge (T34, T53, T54) prove what an API call gets. Each row asserts the status, the full
// JSON body (or its exact member set for token responses) and the challenge header. The deeper
// versions of several rows (timing, concurrency, Redis faults, clocks) live in test/protocol and
// are named in SECURITY.md's coverage table.
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic, decodeSegment, FIXTURE, form, seedClient, seedFixture, seedUser } from '../helpers/oauth.js'

const echo = await startEchoUpstream()
t.teardown(() => echo.close())
const ROUTES = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /api/*
    upstream: echo
    scopes: [read]
`
// REFRESH_GRACE=0: the catalogue's T36/T37 rows as written (strict reuse detection); the grace
// window's own rows are test/protocol/refresh-grace.test.ts
const gw: TestGateway = await startTestGateway(t, { routes: ROUTES, env: { TOKEN_RATE_LIMIT: '100000', LOGIN_MAX_FAILURES: '100000', REFRESH_GRACE: '0' } })
await seedFixture(gw.store)
await seedClient(gw.store, 'web2', { secret: 'web2-secret', grants: ['password', 'refresh_token'], scopes: ['read'] })
await seedClient(gw.store, 'pub', { grants: ['client_credentials'], scopes: ['read'] })
await seedUser(gw.store, 'dora', 'dora-password', ['read'], { disabled: true })

type Res = LightMyRequestResponse
const WEB = basic('web', FIXTURE.webSecret)
const SVC = basic('svc', FIXTURE.svcSecret)
const PW = { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password }
const CC = { grant_type: 'client_credentials' }
const BASIC_CHALLENGE = 'Basic realm="portcullis"'
const REALM = 'Bearer realm="portcullis"'

const err = (error: string, description: string) => ({ error, error_description: description })
const INVALID_CLIENT = err('invalid_client', 'Client authentication failed')
const INVALID_GRANT = err('invalid_grant', 'The grant is invalid, expired or revoked')
/** RFC 6749 §5.2 invalid_grant for a failed login: one answer for unknown user, wrong password, disabled user. */
const BAD_LOGIN = err('invalid_grant', 'Invalid username or password')
const INVALID_SCOPE = err('invalid_scope', 'The requested scope is invalid or exceeds what is allowed')
const UNSUPPORTED = err('unsupported_grant_type', 'Unsupported grant type')
const TOKEN_KEYS = ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']
const CC_KEYS = ['access_token', 'expires_in', 'scope', 'token_type']

/** `authorization` null: no Authorization header at all. */
async function post (url: string, params: Record<string, string> | string, authorization: string | null): Promise<Res> {
  return await gw.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization !== null && { authorization }) },
    payload: typeof params === 'string' ? params : form(params)
  })
}
const token = (params: Record<string, string> | string, auth: string | null = WEB) => post('/oauth/token', params, auth)
const revoke = (params: Record<string, string>, auth: string | null = WEB) => post('/oauth/revoke', params, auth)
const introspect = (tok: string, auth: string | null = WEB) => post('/oauth/introspect', { token: tok }, auth)
const api = (access: string) => gw.app.inject({ method: 'GET', url: '/api/x', headers: { authorization: `Bearer ${access}` } })
async function login (extra: Record<string, string> = {}, auth = WEB): Promise<{ access_token: string, refresh_token: string, scope: string }> {
  const res = await token({ ...PW, ...extra }, auth)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json()
}
const refresh = (rt: string, extra: Record<string, string> = {}, auth: string | null = WEB) => token({ grant_type: 'refresh_token', refresh_token: rt, ...extra }, auth)

interface Row {
  id: string
  proves: string
  /** Performs the request under test (after any set-up steps) and returns its answer. */
  send: () => Promise<Res>
  status: number
  /** The exact JSON body, or the exact sorted member names of a token response. */
  body?: Record<string, unknown>
  keys?: string[]
  /** Expected response headers (undefined = must be absent). WWW-Authenticate is absent unless named. */
  headers?: Record<string, string | undefined>
  /** Further effects to prove (a token no longer works, the upstream saw nothing ...). */
  then?: (t: Test, res: Res) => Promise<void>
}

const ROWS: Row[] = [
  // 3.1 request format
  { id: 'T01', proves: 'GET /oauth/token is 405 with Allow: POST and never issues a token (RFC 6749 §3.2)', send: () => gw.app.inject({ method: 'GET', url: '/oauth/token?grant_type=client_credentials', headers: { authorization: SVC } }), status: 405, body: err('method_not_allowed', 'Method not allowed on this path'), headers: { allow: 'POST' } },
  { id: 'T02a', proves: 'a JSON body is invalid_request (RFC 6749 §4.3.2: form encoding only)', send: () => gw.app.inject({ method: 'POST', url: '/oauth/token', headers: { authorization: WEB, 'content-type': 'application/json' }, payload: JSON.stringify(PW) }), status: 400, body: err('invalid_request', 'The body must be application/x-www-form-urlencoded') },
  { id: 'T02b', proves: 'a multipart body is invalid_request', send: () => gw.app.inject({ method: 'POST', url: '/oauth/token', headers: { authorization: WEB, 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npassword\r\n--x--' }), status: 400, body: err('invalid_request', 'The body must be application/x-www-form-urlencoded') },
  { id: 'T03', proves: 'a client_secret in the query string is refused (RFC 6749 §2.3.1)', send: () => post(`/oauth/token?client_secret=${encodeURIComponent(FIXTURE.webSecret)}`, PW, WEB), status: 400, body: err('invalid_request', 'Credentials must not be sent in the query string') },
  { id: 'T04', proves: 'a repeated parameter is invalid_request (RFC 6749 §3.2)', send: () => token('grant_type=password&grant_type=client_credentials'), status: 400, body: err('invalid_request', 'Parameter grant_type is repeated') },
  { id: 'T05', proves: 'an empty scope= is treated as omitted: every allowed scope is granted (RFC 6749 §3.2)', send: () => token({ ...PW, scope: '' }), status: 200, keys: TOKEN_KEYS, then: async (t, res) => { t.equal(res.json().scope, 'read write') } },
  { id: 'T06', proves: 'unknown parameters are ignored (RFC 6749 §3.2)', send: () => token({ ...PW, nonce: 'n', foo: 'bar' }), status: 200, keys: TOKEN_KEYS },
  { id: 'T07', proves: 'grant_type missing is invalid_request (RFC 6749 §5.2)', send: () => token({ username: 'alice' }), status: 400, body: err('invalid_request', 'grant_type is required') },
  { id: 'T08a', proves: 'grant_type=implicit is unsupported_grant_type', send: () => token({ ...PW, grant_type: 'implicit' }), status: 400, body: UNSUPPORTED },
  { id: 'T08b', proves: 'grant_type=authorization_code from a client not registered for it is unauthorized_client (RFC 6749 §5.2)', send: () => token({ ...PW, grant_type: 'authorization_code' }), status: 400, body: err('unauthorized_client', 'The client may not use this grant type') },
  { id: 'T08c', proves: 'the JWT-bearer grant is unsupported_grant_type', send: () => token({ ...PW, grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer' }), status: 400, body: UNSUPPORTED },
  { id: 'T08d', proves: 'grant_type=PASSWORD (wrong case) is unsupported_grant_type', send: () => token({ ...PW, grant_type: 'PASSWORD' }), status: 400, body: UNSUPPORTED },
  { id: 'T09', proves: 'a grant the client is not registered for is unauthorized_client (RFC 6749 §5.2)', send: () => token(CC), status: 400, body: err('unauthorized_client', 'The client may not use this grant type') },
  { id: 'T10', proves: 'a form body over 8 KiB is 413', send: () => token({ ...PW, password: 'x'.repeat(9 * 1024) }), status: 413, body: err('payload_too_large', 'Request body too large') },

  // 3.2 client authentication
  { id: 'T12', proves: 'HTTP Basic with correct credentials issues a token (RFC 6749 §2.3.1)', send: () => token(CC, SVC), status: 200, keys: CC_KEYS },
  { id: 'T13', proves: 'HTTP Basic with a wrong secret → 401 + WWW-Authenticate: Basic (RFC 6749 §5.2)', send: () => token(CC, basic('svc', 'wrong')), status: 401, body: INVALID_CLIENT, headers: { 'www-authenticate': BASIC_CHALLENGE } },
  { id: 'T14', proves: 'body credentials with a wrong secret → 401 invalid_client, no Basic challenge', send: () => token({ ...CC, client_id: 'svc', client_secret: 'wrong' }, null), status: 401, body: INVALID_CLIENT },
  { id: 'T15', proves: 'Basic and a body client_secret in one request → 400 invalid_request (RFC 6749 §2.3)', send: () => token({ ...CC, client_id: 'svc', client_secret: FIXTURE.svcSecret }, SVC), status: 400, body: err('invalid_request', 'Use one client authentication method per request') },
  { id: 'T16', proves: 'a secret with : % + and space, form-urlencoded inside Basic, authenticates (RFC 6749 Appendix B)', send: () => token(PW, WEB), status: 200, keys: TOKEN_KEYS, then: async (t) => { t.match(FIXTURE.webSecret, /[:%+ ]/) } },
  { id: 'T17a', proves: 'Basic without a colon → 401 invalid_client, never a 500', send: () => token(CC, `Basic ${Buffer.from('svc').toString('base64')}`), status: 401, body: INVALID_CLIENT, headers: { 'www-authenticate': BASIC_CHALLENGE } },
  { id: 'T17b', proves: 'Basic with bad base64 → 401 invalid_client', send: () => token(CC, 'Basic %%%not-base64'), status: 401, body: INVALID_CLIENT, headers: { 'www-authenticate': BASIC_CHALLENGE } },
  { id: 'T17c', proves: 'Basic with an empty user → 401 invalid_client', send: () => token(CC, `Basic ${Buffer.from(':secret').toString('base64')}`), status: 401, body: INVALID_CLIENT, headers: { 'www-authenticate': BASIC_CHALLENGE } },
  { id: 'T17d', proves: 'a lower-case basic scheme is accepted (RFC 9110 §11.1)', send: () => token(CC, SVC.replace('Basic', 'basic')), status: 200, keys: CC_KEYS },
  { id: 'T18', proves: 'an unknown client_id gets exactly the T13 answer (no client enumeration)', send: () => token(CC, basic('nobody', 'wrong')), status: 401, body: INVALID_CLIENT, headers: { 'www-authenticate': BASIC_CHALLENGE }, then: async (t, res) => {
    const known = await token(CC, basic('svc', 'wrong'))
    t.equal(res.body, known.body, 'byte-identical body')
    t.same(Object.keys(res.headers).sort(), Object.keys(known.headers).sort(), 'same header set')
  } },
  { id: 'T19', proves: 'a public client cannot use client_credentials (RFC 6749 §4.4)', send: () => token({ ...CC, client_id: 'pub' }, null), status: 400, body: err('unauthorized_client', 'Public clients cannot use client_credentials') },
  { id: 'T21', proves: 'client secrets are stored only as bcrypt hashes', send: () => token(CC, SVC), status: 200, keys: CC_KEYS, then: async (t) => {
    const svc = await gw.store.getClient('svc')
    t.match(svc?.secretHash, /^\$2[aby]\$\d\d\$/, 'a bcrypt hash')
    t.notMatch(JSON.stringify(svc), FIXTURE.svcSecret, 'the secret itself is stored nowhere in the record')
  } },

  // 3.3 password grant (kept on purpose: SECURITY.md "Deviations")
  { id: 'T22', proves: 'a valid password login returns access, refresh, Bearer, expires_in, scope (RFC 6749 §4.3.3)', send: () => token(PW), status: 200, keys: TOKEN_KEYS, then: async (t, res) => { t.equal(res.json().token_type, 'Bearer') } },
  { id: 'T23', proves: 'a wrong password is invalid_grant (RFC 6749 §5.2)', send: () => token({ ...PW, password: 'wrong' }), status: 400, body: BAD_LOGIN },
  { id: 'T24', proves: 'an unknown user gets a byte-identical answer to a wrong password', send: () => token({ ...PW, username: 'ghost' }), status: 400, body: BAD_LOGIN, then: async (t, res) => {
    const wrong = await token({ ...PW, password: 'wrong' })
    t.equal(res.body, wrong.body)
    t.same(Object.keys(res.headers).sort(), Object.keys(wrong.headers).sort())
  } },
  { id: 'T25', proves: 'a disabled user with the right password gets the T23 answer', send: () => token({ ...PW, username: 'dora', password: 'dora-password' }), status: 400, body: BAD_LOGIN },
  { id: 'T26', proves: 'username variants resolve to one identity (case-insensitive)', send: () => token({ ...PW, username: 'ALICE' }), status: 200, keys: TOKEN_KEYS, then: async (t, res) => { t.equal(decodeSegment(res.json().access_token, 1).sub, 'alice') } },
  { id: 'T27', proves: 'a password beyond bcrypt\'s 72 bytes never logs in, even when its prefix is right', send: () => token({ ...PW, password: FIXTURE.password + 'x'.repeat(72) }), status: 400, body: BAD_LOGIN },
  { id: 'T28', proves: 'a 1 MB password is refused quickly by the body limit', send: () => token({ ...PW, password: 'p'.repeat(1024 * 1024) }), status: 413, body: err('payload_too_large', 'Request body too large') },
  { id: 'T31', proves: 'a scope beyond the client\'s entitlement is invalid_scope (RFC 6749 §3.3)', send: () => token({ ...PW, scope: 'admin' }), status: 400, body: INVALID_SCOPE },

  // 3.4 client credentials
  { id: 'T32', proves: 'client credentials issue no refresh token (RFC 6749 §4.4.3)', send: () => token(CC, SVC), status: 200, keys: CC_KEYS },
  { id: 'T33', proves: 'an unregistered scope is invalid_scope', send: () => token({ ...CC, scope: 'nonexistent' }, SVC), status: 400, body: INVALID_SCOPE },
  { id: 'T34', proves: 'a client token is namespaced client:<id> and typed client upstream (RFC 9700 §4.15.1)', send: () => token(CC, SVC), status: 200, keys: CC_KEYS, then: async (t, res) => {
    const access = res.json().access_token as string
    t.equal(decodeSegment(access, 1).sub, 'client:svc')
    t.equal((await api(access)).statusCode, 200)
    t.equal(echo.seen.at(-1)!.headers['x-auth-subject'], 'client:svc')
    t.equal(echo.seen.at(-1)!.headers['x-auth-subject-type'], 'client')
  } },

  // 3.5 refresh with rotation and reuse detection
  { id: 'T35', proves: 'a refresh rotates: new refresh and access token; the old refresh token is dead (RFC 9700 §4.14.2)', send: async () => { const a = await login(); const r = await refresh(a.refresh_token); old = a.refresh_token; return r }, status: 200, keys: TOKEN_KEYS, then: async (t, res) => {
    t.not(res.json().refresh_token, old)
    t.same((await refresh(old)).json(), INVALID_GRANT)
  } },
  { id: 'T36', proves: 'replaying a rotated refresh token revokes the whole family, successor included', send: async () => { const a = await login(); const b = (await refresh(a.refresh_token)).json(); successor = b; return await refresh(a.refresh_token) }, status: 400, body: INVALID_GRANT, then: async (t) => {
    t.same((await refresh(successor.refresh_token)).json(), INVALID_GRANT, 'the successor is dead too')
    t.equal((await api(successor.access_token)).statusCode, 401, 'the family\'s access tokens are refused at the edge')
  } },
  { id: 'T37', proves: 'two concurrent refreshes with one token: exactly one succeeds', send: async () => {
    const a = await login()
    const both = await Promise.all([refresh(a.refresh_token), refresh(a.refresh_token)])
    return both.find((r) => r.statusCode !== 200) ?? both[0]!
  }, status: 400, body: INVALID_GRANT },
  { id: 'T39', proves: 'a refresh may narrow the scope; the family keeps the original (RFC 6749 §6)', send: async () => { const a = await login(); const r = await refresh(a.refresh_token, { scope: 'read' }); return r }, status: 200, keys: TOKEN_KEYS, then: async (t, res) => {
    t.equal(res.json().scope, 'read')
    const next = await refresh(res.json().refresh_token)
    t.equal(next.json().scope, 'read write', 'the next refresh without scope gets the original scope back')
  } },
  { id: 'T40', proves: 'a refresh may not widen the scope (RFC 6749 §6)', send: async () => { const a = await login({ scope: 'read' }); return await refresh(a.refresh_token, { scope: 'read write' }) }, status: 400, body: INVALID_SCOPE },
  { id: 'T41', proves: 'a refresh token of client web used by client web2 is invalid_grant (RFC 6749 §10.4)', send: async () => { const a = await login(); return await refresh(a.refresh_token, {}, basic('web2', 'web2-secret')) }, status: 400, body: INVALID_GRANT },
  { id: 'T42', proves: 'a confidential client refreshing without authentication is invalid_client', send: async () => { const a = await login(); return await refresh(a.refresh_token, { client_id: 'web' }, null) }, status: 401, body: INVALID_CLIENT },
  { id: 'T43', proves: 'an access token presented as a refresh token is invalid_grant (RFC 8725 §3.12)', send: async () => { const a = await login(); return await refresh(a.access_token) }, status: 400, body: INVALID_GRANT },
  { id: 'T45', proves: 'a refresh token after logout (revocation) is invalid_grant', send: async () => { const a = await login(); await revoke({ token: a.refresh_token }); return await refresh(a.refresh_token) }, status: 400, body: INVALID_GRANT },
  { id: 'T46', proves: 'refresh tokens carry 256 random bits (43 base64url characters), never the same twice', send: () => token(PW), status: 200, keys: TOKEN_KEYS, then: async (t, res) => {
    const a = res.json().refresh_token as string
    t.match(a, /^[A-Za-z0-9_-]{43}$/)
    t.not((await login()).refresh_token, a)
  } },

  // 3.6 response headers and body
  { id: 'T49', proves: 'a success carries Cache-Control: no-store and Pragma: no-cache (RFC 6749 §5.1)', send: () => token(PW), status: 200, keys: TOKEN_KEYS, headers: { 'cache-control': 'no-store', pragma: 'no-cache' } },
  { id: 'T50', proves: 'an error carries the same cache headers and a JSON type (RFC 6749 §5.2)', send: () => token({ ...PW, password: 'wrong' }), status: 400, body: BAD_LOGIN, headers: { 'cache-control': 'no-store', pragma: 'no-cache', 'content-type': 'application/json; charset=utf-8' } },
  { id: 'T51', proves: 'an error body is exactly error + error_description in restricted ASCII', send: () => token({ ...PW, grant_type: 'x' }), status: 400, body: UNSUPPORTED, then: async (t, res) => { t.match(res.json().error_description, /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/) } },
  { id: 'T52', proves: 'token_type is Bearer (RFC 6749 §7.1)', send: () => token(CC, SVC), status: 200, keys: CC_KEYS, then: async (t, res) => { t.equal(res.json().token_type, 'Bearer') } },

  // 3.7 revocation
  { id: 'T53', proves: 'revoking a refresh token ends the session: the refresh token and its access tokens stop working (RFC 7009 §2.1)', send: async () => { const a = await login(); session = a; return await revoke({ token: a.refresh_token }) }, status: 200, then: async (t, res) => {
    t.equal(res.body, '')
    t.same((await refresh(session.refresh_token)).json(), INVALID_GRANT)
    const edge = await api(session.access_token)
    t.equal(edge.statusCode, 401)
    t.equal(edge.headers['www-authenticate'], `${REALM}, error="invalid_token", error_description="The access token was revoked"`)
  } },
  { id: 'T54', proves: 'a revoked access token is refused at the edge with invalid_token (RFC 7009 §2.1)', send: async () => { const a = await login(); session = a; return await revoke({ token: a.access_token }) }, status: 200, then: async (t) => {
    const before = echo.seen.length
    const edge = await api(session.access_token)
    t.equal(edge.statusCode, 401)
    t.same(edge.json(), err('invalid_token', 'The access token was revoked'))
    t.equal(edge.headers['www-authenticate'], `${REALM}, error="invalid_token", error_description="The access token was revoked"`)
    t.equal(echo.seen.length, before, 'the upstream recorded nothing')
  } },
  { id: 'T55', proves: 'an unknown or malformed token is answered 200 (RFC 7009 §2.2)', send: () => revoke({ token: 'garbage.that.is-not-ours' }), status: 200 },
  { id: 'T56', proves: 'another client\'s token is left alone and answered 200 like an unknown one', send: async () => { const a = await login(); session = a; return await revoke({ token: a.refresh_token }, basic('web2', 'web2-secret')) }, status: 200, then: async (t) => {
    t.equal((await refresh(session.refresh_token)).statusCode, 200, 'still alive')
  } },
  { id: 'T57', proves: 'revocation without token is invalid_request (RFC 7009 §2.2.1)', send: () => revoke({}), status: 400, body: err('invalid_request', 'token is required') },
  { id: 'T58', proves: 'a wrong token_type_hint still finds and revokes the token', send: async () => { const a = await login(); session = a; return await revoke({ token: a.refresh_token, token_type_hint: 'access_token' }) }, status: 200, then: async (t) => {
    t.same((await refresh(session.refresh_token)).json(), INVALID_GRANT)
  } },
  { id: 'T59', proves: 'an unknown token_type_hint is ignored: 200 and revoked', send: async () => { const a = await login(); session = a; return await revoke({ token: a.access_token, token_type_hint: 'foo' }) }, status: 200, then: async (t) => {
    t.equal((await api(session.access_token)).statusCode, 401)
  } },
  { id: 'T60', proves: 'a confidential client revoking without authentication is invalid_client', send: () => revoke({ token: 'x', client_id: 'web' }, null), status: 401, body: INVALID_CLIENT },

  // 3.8 introspection
  { id: 'T62', proves: 'an unauthenticated introspection is 401 (RFC 7662 §2.1)', send: () => introspect('x', null), status: 401, body: INVALID_CLIENT, headers: { 'www-authenticate': BASIC_CHALLENGE } },
  { id: 'T63', proves: 'an unknown token is exactly {"active":false} (RFC 7662 §2.2)', send: () => introspect('garbage'), status: 200, body: { active: false } },
  { id: 'T64', proves: 'a token of another client is inactive to the caller', send: async () => introspect((await login()).access_token, SVC), status: 200, body: { active: false } },
  { id: 'T65', proves: 'an active token has the RFC 7662 members', send: async () => introspect((await login()).access_token), status: 200, then: async (t, res) => {
    const b = res.json()
    t.equal(b.active, true)
    for (const k of ['scope', 'client_id', 'sub', 'exp', 'iat', 'iss', 'aud', 'token_type']) t.ok(k in b, k)
    t.equal(b.client_id, 'web')
  } }
]
let old = ''
let successor = { access_token: '', refresh_token: '' }
let session = { access_token: '', refresh_token: '' }

t.test('catalogue §3: the token, revocation and introspection endpoints', async (t) => {
  for (const row of ROWS) {
    t.test(`${row.id}: ${row.proves}`, async (t) => {
      const res = await row.send()
      t.equal(res.statusCode, row.status, res.body.slice(0, 200))
      if (row.body !== undefined) t.same(res.json(), row.body)
      if (row.keys !== undefined) t.same(Object.keys(res.json()).sort(), row.keys)
      const headers = { 'www-authenticate': undefined, ...row.headers }
      for (const [name, value] of Object.entries(headers)) t.equal(res.headers[name], value, name)
      if (row.then !== undefined) await row.then(t, res)
    })
  }
})

t.test('brute force and scanning limits (T20, T29, T30, T66)', async (t) => {
  const lim = await startTestGateway(t, { routes: ROUTES, env: { TOKEN_RATE_LIMIT: '3', LOGIN_MAX_FAILURES: '2' } })
  await seedFixture(lim.store)
  const send = (url: string, params: Record<string, string>, auth: string, xff: string) =>
    lim.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth, 'x-forwarded-for': xff }, payload: form(params) })

  t.test('T29: after LOGIN_MAX_FAILURES wrong passwords the account is throttled: 429 slow_down + Retry-After, even with the right password', async (t) => {
    for (let i = 0; i < 2; i++) t.equal((await send('/oauth/token', { ...PW, password: 'wrong' }, WEB, '10.0.0.1')).statusCode, 400)
    const res = await send('/oauth/token', PW, WEB, '10.0.0.2')
    t.equal(res.statusCode, 429)
    t.same(res.json(), err('slow_down', 'Too many attempts; retry later'))
    t.ok(Number(res.headers['retry-after']) > 0)
    t.equal(res.headers['cache-control'], 'no-store')
  })
  t.test('T20, T30, T66: TOKEN_RATE_LIMIT per socket IP: wrong secrets and introspection scans get 429; X-Forwarded-For changes nothing', async (t) => {
    // the three requests above already count against this IP's minute
    const res = await send('/oauth/introspect', { token: 'scan' }, basic('svc', 'wrong'), '203.0.113.9')
    t.equal(res.statusCode, 429)
    t.same(res.json(), err('rate_limited', 'Too many requests'))
    t.ok(Number(res.headers['retry-after']) > 0 && Number(res.headers['retry-after']) <= 60)
  })
})
