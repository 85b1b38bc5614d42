// Edge authentication and authorization through a real listening gateway and a real echo
// upstream (issue 4 points 1, 3, 5, 7): RFC 6750 §2–§3, RFC 9068 §4, per-method scopes.
import t from 'tap'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { buildApp } from '../../src/app.js'
import { startEchoUpstream, type SeenRequest } from '../helpers/echo-upstream.js'
import { startTestGateway, writeRoutes } from '../helpers/gateway.js'
import { rawRequest } from '../helpers/raw-http.js'
import { clientClaims, mint, userClaims } from '../helpers/tokens.js'
import { loadRouteTable } from '../../src/config/route-map-loader.js'

const echo = await startEchoUpstream()
t.teardown(() => echo.close())

const ROUTES = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /orders/*
    methods: [GET, HEAD]
    upstream: echo
    scopes: [orders:read]
  - path: /orders/*
    methods: [POST, PUT, DELETE]
    upstream: echo
    scopes: [orders:write]
  - path: /both/*
    upstream: echo
    scopes: [a, b]
  - path: /me
    upstream: echo
  - path: /maybe/*
    upstream: echo
    auth: optional
  - path: /open/*
    upstream: echo
    auth: none
  - path: /private/*
    upstream: echo
    forward_token: false
`
const gw = await startTestGateway(t, { routes: ROUTES })
const REALM = 'Bearer realm="portcullis"'
const INVALID = `${REALM}, error="invalid_token", error_description="The access token is invalid"`
const EXPIRED = `${REALM}, error="invalid_token", error_description="The access token expired"`
const REQUEST = (d: string): string => `${REALM}, error="invalid_request", error_description="${d}"`

const token = (over: Record<string, unknown> = {}): string => mint(gw.keys, userClaims(gw.config, over))

interface Answer { status: number; body: Record<string, unknown>; challenge: string | null; seen: SeenRequest | undefined }

/** Calls the gateway; `seen` is what the upstream received for this call (undefined: nothing). */
async function call (path: string, init: { method?: string; bearer?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const before = echo.seen.length
  const headers: Record<string, string> = { ...init.headers }
  if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`
  const res = await fetch(gw.url + path, { method: init.method ?? 'GET', headers })
  const text = await res.text()
  let body: Record<string, unknown> = {}
  try { body = JSON.parse(text) as Record<string, unknown> } catch { /* HEAD */ }
  return { status: res.status, body, challenge: res.headers.get('www-authenticate'), seen: echo.seen.length > before ? echo.seen.at(-1) : undefined }
}

t.test('J01 / RFC 9068 §2: a valid token is forwarded with the identity headers', async (t) => {
  const tok = token({ scope: 'orders:read extra' })
  const a = await call('/orders/42', { bearer: tok })
  t.equal(a.status, 200)
  t.equal(a.challenge, null)
  const h = a.seen!.headers
  t.equal(h['x-auth-subject'], 'alice')
  t.equal(h['x-auth-subject-type'], 'user')
  t.equal(h['x-auth-client-id'], 'mobile')
  t.equal(h['x-auth-scopes'], 'orders:read extra')
  t.match(h['x-auth-token-id'], /^[A-Za-z0-9_-]{22}$/)
  t.equal(h.authorization, `Bearer ${tok}`, 'the token goes upstream by default (services may verify it via JWKS)')
})

t.test('J52 / RFC 9700 §4.15.1: a client_credentials token is typed client upstream', async (t) => {
  const a = await call('/me', { bearer: mint(gw.keys, clientClaims(gw.config, 'reporting')) })
  t.equal(a.status, 200)
  t.equal(a.seen!.headers['x-auth-subject'], 'client:reporting')
  t.equal(a.seen!.headers['x-auth-subject-type'], 'client')
})

t.test('identity headers a client sends are replaced by the verified ones', async (t) => {
  const a = await call('/me', { bearer: token(), headers: { 'x-auth-subject': 'admin', 'x-auth-subject-type': 'client', 'x-auth-scopes': 'admin' } })
  t.equal(a.seen!.headers['x-auth-subject'], 'alice')
  t.equal(a.seen!.headers['x-auth-subject-type'], 'user')
  t.equal(a.seen!.headers['x-auth-scopes'], 'read')
})

t.test('RFC 6750 §3.1: no credentials → 401 with a bare challenge, nothing forwarded', async (t) => {
  const cases: Array<Record<string, string>> = [{}, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Digest username="x"' }]
  for (const headers of cases) {
    const a = await call('/me', { headers })
    t.equal(a.status, 401, JSON.stringify(headers))
    t.equal(a.challenge, REALM, 'no error code without authentication information')
    t.same(a.body, { error: 'invalid_token', error_description: 'Missing bearer token' })
    t.equal(a.seen, undefined)
  }
})

t.test('RFC 9110 §11.1: the scheme is case-insensitive (J58)', async (t) => {
  for (const scheme of ['bearer', 'BEARER']) {
    const a = await call('/me', { headers: { authorization: `${scheme} ${token()}` } })
    t.equal(a.status, 200, scheme)
  }
})

t.test('RFC 6750 §3.1: a bad token → 401 invalid_token with a description', async (t) => {
  const bad = await call('/me', { bearer: token().slice(0, -4) + 'AAAA' })
  t.equal(bad.status, 401)
  t.equal(bad.challenge, INVALID)
  t.same(bad.body, { error: 'invalid_token', error_description: 'The access token is invalid' })
  t.equal(bad.seen, undefined)
  const now = Math.floor(Date.now() / 1000)
  const expired = await call('/me', { bearer: token({ iat: now - 2000, exp: now - 1000 }) })
  t.equal(expired.status, 401)
  t.equal(expired.challenge, EXPIRED)
  t.same(expired.body, { error: 'invalid_token', error_description: 'The access token expired' })
})

t.test('RFC 6750 §3.1: insufficient_scope per method, with the exact challenge', async (t) => {
  const reader = token({ scope: 'orders:read' })
  const writer = token({ scope: 'orders:write' })
  const rows: Array<[string, string, string, number, string | null]> = [
    ['GET', '/orders/1', reader, 200, null],
    ['HEAD', '/orders/1', reader, 200, null],
    ['POST', '/orders/1', writer, 200, null],
    ['DELETE', '/orders/1', writer, 200, null],
    ['GET', '/orders/1', writer, 403, 'orders:read'],
    ['HEAD', '/orders/1', writer, 403, 'orders:read'],
    ['POST', '/orders/1', reader, 403, 'orders:write'],
    ['PUT', '/orders/1', reader, 403, 'orders:write'],
    ['DELETE', '/orders/1', reader, 403, 'orders:write']
  ]
  for (const [method, path, tok, status, scope] of rows) {
    const a = await call(path, { method, bearer: tok })
    const label = `${method} ${path} with ${tok === reader ? 'orders:read' : 'orders:write'}`
    t.equal(a.status, status, label)
    if (scope === null) {
      t.not(a.seen, undefined, `${label}: forwarded`)
      continue
    }
    t.equal(a.challenge, `${REALM}, error="insufficient_scope", scope="${scope}"`, label)
    if (method !== 'HEAD') t.same(a.body, { error: 'insufficient_scope', error_description: 'The access token lacks a required scope', scope }, label)
    t.equal(a.seen, undefined, `${label}: not forwarded`)
  }
})

t.test('RFC 6750 §3.1: all of a route\'s scopes are required, exact match', async (t) => {
  for (const scope of ['a', 'b', 'A B', 'a:b', 'ab']) {
    const a = await call('/both/x', { bearer: token({ scope }) })
    t.equal(a.status, 403, scope)
    t.equal(a.challenge, `${REALM}, error="insufficient_scope", scope="a b"`)
    t.equal(a.body.scope, 'a b')
  }
  t.equal((await call('/both/x', { bearer: token({ scope: 'b x a' }) })).status, 200)
})

t.test('auth: optional: anonymous without a token, identity with one, refused with a bad one', async (t) => {
  const anon = await call('/maybe/x', { headers: { 'x-auth-subject': 'admin' } })
  t.equal(anon.status, 200)
  t.equal(Object.keys(anon.seen!.headers).filter((h) => h.startsWith('x-auth-')).length, 0, 'no identity header at all')
  const basic = await call('/maybe/x', { headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.equal(basic.status, 200, 'another scheme is anonymous')
  t.equal(basic.seen!.headers['x-auth-subject'], undefined)
  const known = await call('/maybe/x', { bearer: token() })
  t.equal(known.status, 200)
  t.equal(known.seen!.headers['x-auth-subject'], 'alice')
  const bad = await call('/maybe/x', { bearer: token({ iss: 'https://evil.example' }) })
  t.equal(bad.status, 401, 'a bad token is refused, never downgraded to anonymous')
  t.equal(bad.challenge, INVALID)
  t.equal(bad.seen, undefined)
  const malformed = await call('/maybe/x', { headers: { authorization: 'Bearer' } })
  t.equal(malformed.status, 400)
  t.equal(malformed.challenge, REQUEST('Bearer scheme without a token'))
})

t.test('auth: none: token checks skipped, no identity, Authorization still forwarded', async (t) => {
  const a = await call('/open/x', { headers: { authorization: 'Bearer not.a.token', 'x-auth-subject': 'admin' } })
  t.equal(a.status, 200)
  t.equal(a.seen!.headers['x-auth-subject'], undefined)
  t.equal(a.seen!.headers.authorization, 'Bearer not.a.token')
  t.equal((await call('/open/x', { headers: { authorization: 'Bearer  two-spaces' } })).status, 200, 'not even the syntax is checked')
})

t.test('forward_token: false keeps the Authorization header from the upstream', async (t) => {
  const a = await call('/private/x', { bearer: token() })
  t.equal(a.status, 200)
  t.equal(a.seen!.headers.authorization, undefined)
  t.equal(a.seen!.headers['x-auth-subject'], 'alice')
})

t.test('RFC 6750 §2.3 / J61: a token in the query is no credential', async (t) => {
  const tok = token()
  const a = await call(`/me?access_token=${tok}`)
  t.equal(a.status, 401)
  t.equal(a.challenge, REALM)
  t.equal(a.seen, undefined)
  const optional = await call(`/maybe/x?access_token=${tok}`)
  t.equal(optional.status, 200)
  t.equal(optional.seen!.headers['x-auth-subject'], undefined, 'anonymous: the query token gave no identity')
})

t.test('RFC 6750 §2 / J63: a token in the header and the query → 400 invalid_request', async (t) => {
  for (const q of ['access_token=x', 'a=1&access_token=x', 'acc%65ss_token=x']) {
    const a = await call(`/me?${q}`, { bearer: token() })
    t.equal(a.status, 400, q)
    t.equal(a.challenge, REQUEST('Bearer token sent in more than one way'))
    t.same(a.body, { error: 'invalid_request', error_description: 'Bearer token sent in more than one way' })
    t.equal(a.seen, undefined)
  }
})

t.test('RFC 6750 §2.1 / J59, J60 over raw TCP: malformed Authorization → 400 invalid_request', async (t) => {
  const tok = token()
  const rows: Array<[string, string[], string]> = [
    ['two spaces', [`Authorization: Bearer  ${tok}`], 'Malformed Authorization header'],
    ['tab', [`Authorization: Bearer\t${tok}`], 'Malformed Authorization header'],
    ['extra part', [`Authorization: Bearer ${tok} extra`], 'Malformed Authorization header'],
    ['scheme alone', ['Authorization: Bearer'], 'Bearer scheme without a token'],
    ['scheme and a space', ['Authorization: Bearer '], 'Bearer scheme without a token'],
    ['two fields', [`Authorization: Bearer ${tok}`, `Authorization: Bearer ${tok}`], 'More than one Authorization header'],
    ['two fields, second bad', [`Authorization: Bearer ${tok}`, 'authorization: Basic eA=='], 'More than one Authorization header']
  ]
  const before = echo.seen.length
  for (const [why, lines, description] of rows) {
    const res = await rawRequest(gw.port, `GET /me HTTP/1.1\r\nHost: x\r\n${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`)
    t.equal(res.status, 400, why)
    t.equal(res.headers['www-authenticate'], REQUEST(description), why)
    t.same(JSON.parse(res.body), { error: 'invalid_request', error_description: description }, why)
  }
  t.equal(echo.seen.length, before, 'nothing forwarded')
})

t.test('STYLE §10: each refusal is logged once, with reason, stage, route, never the token', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); cb() } })
  const file = writeRoutes(ROUTES)
  const table = await loadRouteTable(file)
  const app = await buildApp({ config: gw.config, store: gw.store, keys: gw.keys, routes: { current: () => table }, logger: pino({ level: 'info' }, sink) })
  t.teardown(() => app.close())
  const tok = token({ scope: 'orders:read' })
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ['POST', '/orders/1', { reason: 'scope_missing', stage: 'authorize', route: 'POST,PUT,DELETE /orders/*', subject: 'alice', client: 'mobile' }],
    ['GET', '/me', { reason: 'token_missing', stage: 'authenticate', route: 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /me', subject: null }]
  ]
  for (const [method, url, expected] of cases) {
    lines.length = 0
    const res = await app.inject({ method, url, headers: url === '/me' ? {} : { authorization: `Bearer ${tok}` } })
    t.equal(res.statusCode, expected.reason === 'scope_missing' ? 403 : 401)
    const refusals = lines.filter((l) => l.msg === 'request refused')
    t.equal(refusals.length, 1, `${method} ${url}: one refusal line`)
    t.match(refusals[0], { ...expected, outcome: 'refused' })
    t.notOk(lines.some((l) => JSON.stringify(l).includes(tok.split('.')[2]!)), 'the token is never logged')
  }
  lines.length = 0
  await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${tok.slice(0, -3)}AAA` } })
  t.match(lines.filter((l) => l.msg === 'request refused'), [{ reason: 'token_invalid', stage: 'authenticate', detail: 'bad_signature' }])
})
