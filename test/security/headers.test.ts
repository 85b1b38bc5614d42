// Header spoofing, hop-by-hop abuse and forwarding headers (security-catalogue §5 H01–H15;
// RFC 9700 §4.13, RFC 9110 §7.6.1, RFC 7239). Strip, then set: the upstream sees only what the
// gateway decided. Each row is sent byte for byte over TCP (header names keep their case and
// underscores) and asserts what the upstream received, or, for a refusal, the full answer and
// that the upstream received nothing.
import t, { type Test } from 'tap'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { startEchoUpstream, type SeenRequest } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { rawRequest, type RawResponse } from '../helpers/raw-http.js'
import { mint, userClaims } from '../helpers/tokens.js'

const echo = await startEchoUpstream()
t.teardown(() => echo.close())

// H14: an upstream whose response carries hop-by-hop fields and a field named in its Connection.
const resp: Server = createHttpServer((_req, res) => {
  res.setHeader('Connection', 'X-Upstream-Private')
  res.setHeader('X-Upstream-Private', 'internal')
  res.setHeader('Keep-Alive', 'timeout=5')
  res.setHeader('Proxy-Authenticate', 'Basic realm="upstream"')
  res.setHeader('Upgrade', 'h2c')
  res.setHeader('Trailer', 'X-Checksum')
  res.setHeader('X-End-To-End', 'kept')
  // issue 9 item 19: the identity namespace is internal in responses too
  res.setHeader('X-Auth-Subject', 'leaked')
  res.setHeader('X_Auth_Internal', 'leaked')
  res.setHeader('x.auth.token', 'leaked')
  res.setHeader('XAuthScopes', 'leaked')
  res.end('{}')
})
await new Promise<void>((resolve) => resp.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => { resp.closeAllConnections(); resp.close(() => resolve()) }))

// H15: an HTTPS upstream with a self-signed certificate for another name (test-only key pair).
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgT2+Lz3HrErhhQlp9
3h95VMmxRnQLKFlTCkNoScZMdPGhRANCAASUkIZfFTpo/HG9tcNhIsyC+4WQnHKj
Zi2d9Z6WVpjp0YiSV4WMCcYUQiCkHmFA+AH5jA3ZC+U+EjR5Jyj2lpMN
-----END PRIVATE KEY-----`
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBqzCCAVCgAwIBAgIUAfdJwkvyr16P7P+yd38w/cH3xhIwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQdXBzdHJlYW0uaW52YWxpZDAgFw0yNjExMjIwNjI0MjZaGA8y
MTI2MTAyOTA2MjQyNlowGzEZMBcGA1UEAwwQdXBzdHJlYW0uaW52YWxpZDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABJSQhl8VOmj8cb21w2EizIL7hZCccqNmLZ31
npZWmOnRiJJXhYwJxhRCIKQeYUD4AfmMDdkL5T4SNHknKPaWkw2jcDBuMB0GA1Ud
DgQWBBQdugABNVvxR9olKCem1Z3qsm8QTTAfBgNVHSMEGDAWgBQdugABNVvxR9ol
KCem1Z3qsm8QTTAPBgNVHRMBAf8EBTADAQH/MBsGA1UdEQQUMBKCEHVwc3RyZWFt
LmludmFsaWQwCgYIKoZIzj0EAwIDSQAwRgIhANvVwbi4SsXqM8I57WgKAu/DfNvR
FOeovmv5i9Zk7QSnAiEAhHEyrzr4hCyPN6BdYmvLbiOC1+cXXT5sQqinD8MDiE8=
-----END CERTIFICATE-----`
let tlsHits = 0
const tls = createHttpsServer({ key: TLS_KEY, cert: TLS_CERT }, (_req, res) => { tlsHits++; res.end('{}') })
tls.on('tlsClientError', () => {})
await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => { tls.closeAllConnections(); tls.close(() => resolve()) }))

const gw = await startTestGateway(t, {
  routes: `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
  resp: { url: http://127.0.0.1:${(resp.address() as AddressInfo).port}, timeout: 2s }
  tls: { url: https://127.0.0.1:${(tls.address() as AddressInfo).port}, timeout: 2s }
routes:
  - path: /me/*
    upstream: echo
  - path: /notoken/*
    upstream: echo
    forward_token: false
  - path: /pub/*
    upstream: echo
    auth: none
  - path: /limited/*
    upstream: echo
    auth: none
    rate_limit: { limit: 2, window: 1m, by: ip }
  - path: /resp/*
    upstream: resp
    auth: none
  - path: /tls/*
    upstream: tls
    auth: none
`
})
const token = mint(gw.keys, userClaims(gw.config, { sub: 'alice', scope: 'read', client_id: 'mobile' }))
const AUTH = `Authorization: Bearer ${token}`
const REALM = 'Bearer realm="portcullis"'

/** Names of the headers the upstream received, lower-cased, in wire order (duplicates kept). */
const names = (seen: SeenRequest): string[] => seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
const count = (seen: SeenRequest, name: string): number => names(seen).filter((n) => n === name).length

interface Row {
  id: string
  proves: string
  path: string
  /** Raw header lines after Host (the request adds Connection: close last unless a line sets it). */
  lines: string[]
  host?: string
  /** What the upstream must have received. */
  upstream: (t: Test, seen: SeenRequest) => void
}

/** Client headers that must never reach the upstream (catalogue H05 and P24/P25). */
const RESERVED = [
  'X-Auth-Subject: root', 'X-User-Id: 0', 'X-User-Roles: admin', 'X-Gateway-Verified: true', 'X-Forwarded-Prefix: /admin',
  'X-Forwarded-Port: 443', 'X-Forwarded-Server: evil', 'Forwarded: for=10.0.0.1;host=evil.example;proto=https',
  'X-Real-IP: 10.0.0.1', 'X-Client-IP: 10.0.0.1', 'True-Client-IP: 10.0.0.1', 'CF-Connecting-IP: 10.0.0.1',
  'X-Original-URL: /admin', 'X-Rewrite-URL: /admin', 'X-Envoy-Original-Path: /admin', 'X-Envoy-Internal: true',
  'X-HTTP-Method-Override: DELETE', 'X-HTTP-Method: DELETE', 'X-Method-Override: DELETE'
]
const nameOf = (line: string): string => line.split(':', 1)[0]!.toLowerCase()
const GATEWAY_SET = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'])

const ROWS: Row[] = [
  { id: 'H01', proves: 'client X-Auth-Subject / X-Auth-Scopes are replaced by the verified token\'s values', path: '/me/x', lines: [AUTH, 'X-Auth-Subject: root', 'X-Auth-Scopes: admin', 'X-Auth-Subject-Type: client'], upstream: (t, s) => {
    t.equal(s.headers['x-auth-subject'], 'alice')
    t.equal(s.headers['x-auth-scopes'], 'read')
    t.equal(s.headers['x-auth-subject-type'], 'user')
    t.equal(s.headers['x-auth-client-id'], 'mobile')
  } },
  { id: 'H02', proves: 'the same identity header twice in mixed case becomes one gateway value', path: '/me/x', lines: [AUTH, 'x-auth-subject: root', 'X-AUTH-SUBJECT: admin', 'X-Auth-Scopes: a', 'x-auth-scopes: b'], upstream: (t, s) => {
    t.equal(count(s, 'x-auth-subject'), 1)
    t.equal(count(s, 'x-auth-scopes'), 1)
    t.equal(s.headers['x-auth-subject'], 'alice')
    t.equal(s.headers['x-auth-scopes'], 'read')
  } },
  { id: 'H03', proves: 'underscore variants of identity headers are dropped, never forwarded (chosen over a 400, see SECURITY.md)', path: '/me/x', lines: [AUTH, 'X_Auth_Subject: root', 'X-Auth_Subject: root', 'x_auth-scopes: admin', 'X_User_Id: 0', 'X_Forwarded_For: 10.0.0.1'], upstream: (t, s) => {
    t.same(names(s).filter((n) => n.includes('_')), [], 'no underscore header reached the upstream')
    t.equal(s.headers['x-auth-subject'], 'alice')
    t.equal(s.headers['x-forwarded-for'], '127.0.0.1')
  } },
  { id: 'H03a', proves: 'identity headers folded with any punctuation or none (X.Auth.Subject, X~Auth~Scopes, XAuthSubject, X-Authenticated-User) are dropped: every name that folds to xauth… (issue 9 item 11)', path: '/me/x', lines: [AUTH, 'X.Auth.Subject: root', 'X~Auth~Scopes: admin', 'XAuthSubject: root', 'X-AUTH--Token-Id: j', "X'Auth'Client-Id: c", 'X-Authenticated-User: root', 'X+Auth+Subject-Type: client'], upstream: (t, s) => {
    const folded = names(s).map((n) => n.replace(/[^a-z0-9]/g, ''))
    t.same(names(s).filter((n, i) => folded[i]!.startsWith('xauth')).sort(), ['x-auth-client-id', 'x-auth-scopes', 'x-auth-subject', 'x-auth-subject-type', 'x-auth-token-id', 'x-auth-token-type'], 'only the gateway\'s own six')
    t.equal(s.headers['x-auth-subject'], 'alice')
    t.equal(s.headers['x-auth-subject-type'], 'user')
    t.equal(s.headers['x-auth-scopes'], 'read')
  } },
  { id: 'H04', proves: 'on an auth: none route every identity header is removed and none is added, even with a valid token', path: '/pub/x', lines: [AUTH, 'X-Auth-Subject: root', 'X-Auth-Scopes: admin', 'X-Auth-Token-Id: j'], upstream: (t, s) => {
    t.same(names(s).filter((n) => n.startsWith('x-auth-')), [])
  } },
  { id: 'H05', proves: 'the reserved-prefix sweep: no client forwarding, identity, override or routing header reaches the upstream', path: '/pub/x', lines: RESERVED, upstream: (t, s) => {
    const got = names(s)
    for (const line of RESERVED) {
      const n = nameOf(line)
      if (GATEWAY_SET.has(n)) continue
      t.notOk(got.includes(n), `${n} stripped`)
    }
    t.equal(s.headers['x-forwarded-for'], '127.0.0.1')
  } },
  { id: 'H06', proves: 'Connection naming X-Auth-Subject / X-Forwarded-For cannot remove what the gateway adds; Connection is not forwarded', path: '/me/x', lines: [AUTH, 'Connection: close, X-Auth-Subject, X-Forwarded-For, X-Auth-Scopes'], upstream: (t, s) => {
    t.equal(s.headers['x-auth-subject'], 'alice')
    t.equal(s.headers['x-auth-scopes'], 'read')
    t.equal(s.headers['x-forwarded-for'], '127.0.0.1')
    t.notMatch(String(s.headers.connection ?? ''), /x-auth|x-forwarded|close/i, 'the client\'s Connection did not travel')
  } },
  { id: 'H07', proves: 'hop-by-hop fields are not forwarded (RFC 9110 §7.6.1)', path: '/pub/x', lines: ['Keep-Alive: timeout=99', 'Proxy-Authorization: Basic Zm9vOmJhcg==', 'Proxy-Connection: keep-alive', 'TE: trailers, deflate', 'Trailer: X-T', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'], upstream: (t, s) => {
    const got = names(s)
    for (const n of ['keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade', 'http2-settings']) t.notOk(got.includes(n), `${n} not forwarded`)
  } },
  { id: 'H08', proves: 'client X-Forwarded-For is overwritten with the socket peer at the edge', path: '/pub/x', lines: ['X-Forwarded-For: 10.0.0.1, 10.0.0.2'], upstream: (t, s) => {
    t.equal(s.headers['x-forwarded-for'], '127.0.0.1')
    t.equal(count(s, 'x-forwarded-for'), 1)
  } },
  { id: 'H10', proves: 'client Forwarded and X-Forwarded-Proto/-Host are dropped and regenerated (RFC 7239)', path: '/pub/x', host: 'gw.example', lines: ['Forwarded: for=10.0.0.1;host=evil.example;proto=https', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: evil.example'], upstream: (t, s) => {
    t.equal(s.headers.forwarded, undefined)
    t.equal(s.headers['x-forwarded-proto'], 'http')
    t.equal(s.headers['x-forwarded-host'], 'gw.example')
  } },
  { id: 'H11a', proves: 'Authorization is forwarded by default so the upstream can re-validate the JWT (policy); Cookie passes end to end', path: '/me/x', lines: [AUTH, 'Cookie: session=abc'], upstream: (t, s) => {
    t.equal(s.headers.authorization, `Bearer ${token}`)
    t.equal(s.headers.cookie, 'session=abc')
  } },
  { id: 'H11b', proves: 'forward_token: false keeps the bearer token from the upstream', path: '/notoken/x', lines: [AUTH], upstream: (t, s) => {
    t.equal(s.headers.authorization, undefined)
    t.equal(s.headers['x-auth-subject'], 'alice')
  } },
  { id: 'H13', proves: 'the upstream Host is the upstream authority, never the client\'s Host; X-Forwarded-Host is written by the gateway', path: '/pub/x', host: 'evil.example', lines: ['X-Forwarded-Host: other.example'], upstream: (t, s) => {
    t.equal(s.headers.host, `127.0.0.1:${echo.port}`)
    t.equal(count(s, 'x-forwarded-host'), 1)
    t.equal(s.headers['x-forwarded-host'], 'evil.example', 'the Host the client addressed, set by the gateway, not the client header')
  } }
]

function send (path: string, lines: string[], host = '127.0.0.1'): Promise<RawResponse> {
  const closing = lines.some((l) => /^connection:/i.test(l)) ? [] : ['Connection: close']
  return rawRequest(gw.port, [`GET ${path} HTTP/1.1`, `Host: ${host}`, ...lines, ...closing, '', ''].join('\r\n'))
}

t.test('catalogue §5: the upstream sees only what the gateway decided', async (t) => {
  for (const row of ROWS) {
    t.test(`${row.id}: ${row.proves}`, async (t) => {
      const before = echo.seen.length
      const res = await send(row.path, row.lines, row.host)
      t.equal(res.status, 200)
      t.equal(echo.seen.length, before + 1, 'forwarded once')
      row.upstream(t, echo.seen.at(-1)!)
    })
  }
})

t.test('H09: trustProxy is off at the edge; rotating X-Forwarded-For does not change the rate-limit key', async (t) => {
  t.not((gw.app.initialConfig as { trustProxy?: unknown }).trustProxy, true, 'never trustProxy: true')
  t.equal(gw.config.TRUST_PROXY, '', 'no trusted proxy configured')
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) {
    const res = await send('/limited/x', [`X-Forwarded-For: 203.0.113.${i}`])
    statuses.push(res.status)
    if (res.status === 429) {
      t.same(JSON.parse(res.body), { error: 'rate_limited', error_description: 'Too many requests' })
      t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After')
    }
  }
  t.same(statuses, [200, 200, 429, 429], 'limit 2 per IP holds whatever XFF says')
})

t.test('H12: a claim with CR LF never becomes a header: 401 invalid_token, upstream untouched (see J50)', async (t) => {
  const before = echo.seen.length
  const bad = mint(gw.keys, userClaims(gw.config, { sub: 'a\r\nX-Auth-Scopes: admin' }))
  const res = await send('/me/x', [`Authorization: Bearer ${bad}`])
  t.equal(res.status, 401)
  t.equal(res.headers['www-authenticate'], `${REALM}, error="invalid_token", error_description="The access token is invalid"`)
  t.same(JSON.parse(res.body), { error: 'invalid_token', error_description: 'The access token is invalid' })
  t.equal(echo.seen.length, before, 'the upstream recorded nothing')
})

t.test('H14: the upstream\'s hop-by-hop response fields stay on its hop; end-to-end fields pass', async (t) => {
  const res = await send('/resp/x', [])
  t.equal(res.status, 200)
  for (const h of ['x-upstream-private', 'keep-alive', 'proxy-authenticate', 'upgrade', 'trailer']) t.equal(res.headers[h], undefined, `${h} removed`)
  t.equal(res.headers['x-end-to-end'], 'kept')
  t.equal(res.headers.connection, 'close', 'the client connection is the gateway\'s own')
})

t.test('H01b: an upstream\'s x-auth-* response fields (any punctuation) never reach the client (issue 9 item 19)', async (t) => {
  const res = await send('/resp/x', [])
  t.equal(res.status, 200)
  t.same(Object.keys(res.headers).filter((h) => h.replace(/[^a-z0-9]/g, '').startsWith('xauth')), [], 'no x-auth header in the response')
  t.notMatch(res.raw, /leaked/, 'no value of one either')
  t.equal(res.headers['x-end-to-end'], 'kept')
})

t.test('H15: an HTTPS upstream with a self-signed, wrong-host certificate is refused: 502, nothing sent', async (t) => {
  const res = await send('/tls/x', [])
  t.equal(res.status, 502)
  t.same(JSON.parse(res.body), { error: 'bad_gateway', error_description: 'The upstream service is unreachable' })
  t.equal(tlsHits, 0, 'no request reached the upstream over the unverified channel')
})
