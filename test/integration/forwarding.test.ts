// Forwarding through a real listening gateway to a real echo upstream (issue 2 points 6–8).
import t from 'tap'
import { createServer } from 'node:net'
import { startEchoUpstream, type SeenRequest } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { rawRequest } from '../helpers/raw-http.js'

async function closedPort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

const echo = await startEchoUpstream()
t.teardown(() => echo.close())
const dead = await closedPort()

const gw = await startTestGateway(t, {
  routes: `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
  based: { url: ${echo.url}/v1, timeout: 2s }
  slow: { url: ${echo.url}, timeout: 300ms }
  dead: { url: http://127.0.0.1:${dead}, timeout: 1s }
defaults:
  auth: none
routes:
  - path: /public/*
    upstream: echo
  - path: /items/:id
    methods: [GET, HEAD]
    upstream: echo
  - path: /items/:id
    methods: [PUT]
    upstream: echo
  - path: /api/*
    upstream: based
  - path: /slow/*
    upstream: slow
  - path: /down/*
    upstream: dead
  - path: /reset/*
    upstream: echo
  - path: /maybe/*
    upstream: echo
    auth: optional
`
})

function lastSeen (): SeenRequest {
  const s = echo.seen.at(-1)
  if (s === undefined) throw new Error('upstream saw nothing')
  return s
}

t.test('method, path, query, body and end-to-end headers pass through', async (t) => {
  const res = await fetch(`${gw.url}/public/a/b?x=1&y=two%20words`, {
    method: 'POST', body: 'hello=world', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-custom': 'kept' }
  })
  t.equal(res.status, 200)
  const seen = lastSeen()
  t.equal(seen.method, 'POST')
  t.equal(seen.url, '/public/a/b?x=1&y=two%20words', 'path and raw query unchanged')
  t.equal(seen.body, 'hello=world')
  t.equal(seen.headers['x-custom'], 'kept')
  t.equal(seen.headers['content-type'], 'application/x-www-form-urlencoded')
  t.equal(res.headers.get('x-upstream'), 'echo', 'upstream response headers come back')
})

t.test('RFC 6750 §5.3 / catalogue J61: an access_token query parameter never reaches the upstream', async (t) => {
  await fetch(`${gw.url}/public/q?a=1&access_token=secret1&b=2&%61ccess_token=secret2`)
  t.equal(lastSeen().url, '/public/q?a=1&b=2')
  await fetch(`${gw.url}/public/q?access_token=only`)
  t.equal(lastSeen().url, '/public/q')
})

t.test('J61 / issue 9 item 8: access_token is stripped by its decoded name, however it is percent-encoded', async (t) => {
  // [query sent, query the upstream must get]: on auth: none and on an anonymous auth: optional request
  const rows: Array<[string, string]> = [
    ['%61ccess_token=s1', ''],
    ['access%5Ftoken=s2', ''],
    ['access%5ftoken=s3&x=1', 'x=1'],
    ['x=1&%61%63%63%65%73%73%5F%74%6F%6B%65%6E=s4', 'x=1'],
    ['%61ccess%5fTOKEN=kept', '%61ccess%5fTOKEN=kept'],
    ['access_tokens=kept&my_access_token=kept', 'access_tokens=kept&my_access_token=kept']
  ]
  for (const prefix of ['/public/q', '/maybe/q']) {
    for (const [sent, forwarded] of rows) {
      const res = await fetch(`${gw.url}${prefix}?${sent}`)
      t.equal(res.status, 200, `${prefix}?${sent}`)
      t.equal(lastSeen().url, forwarded === '' ? prefix : `${prefix}?${forwarded}`, `${prefix}?${sent}`)
      t.notOk(lastSeen().url.includes('=s'), 'no token value reached the upstream')
    }
  }
})

t.test('two Host header lines are refused (RFC 9112 §3.2, catalogue P19)', async (t) => {
  const before = echo.seen.length
  const res = await rawRequest(gw.port, 'GET /public/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n')
  t.equal(res.status, 400)
  t.same(JSON.parse(res.body), { error: 'invalid_request', error_description: 'More than one Host header' })
  t.equal(echo.seen.length, before)
})

t.test('an upstream URL with a base path prefixes the forwarded path', async (t) => {
  await fetch(`${gw.url}/api/things?q=1`)
  t.equal(lastSeen().url, '/v1/api/things?q=1')
})

t.test('the upstream receives the canonical path the route was matched on', async (t) => {
  await fetch(`${gw.url}/%70ublic/%41bc`)
  t.equal(lastSeen().url, '/public/Abc', 'encoded unreserved characters decoded once, at the edge')
})

t.test('a large body is streamed through intact', async (t) => {
  const big = 'x'.repeat(3 * 1024 * 1024 + 7)
  const res = await fetch(`${gw.url}/public/upload`, { method: 'POST', body: big, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(res.status, 200)
  t.equal(lastSeen().body.length, big.length, 'bigger than the 1 MiB parse limit: not buffered through a parser')
})

t.test('forwarding headers are set by the gateway (RFC 9110 §7.6.1 hop-by-hop removed)', async (t) => {
  const res = await rawRequest(gw.port, [
    'GET /public/fwd HTTP/1.1',
    'Host: gateway.example',
    'X-Forwarded-For: 10.9.9.9',
    'X-Forwarded-Proto: https',
    'X-Forwarded-Host: evil.example',
    'Forwarded: for=10.9.9.9;proto=https',
    'X-Real-IP: 10.9.9.9',
    'Keep-Alive: timeout=5',
    'TE: trailers',
    'Proxy-Authorization: Basic Zm9vOmJhcg==',
    'Connection: close',
    '', ''
  ].join('\r\n'))
  t.equal(res.status, 200)
  const seen = lastSeen()
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'XFF is the socket peer, not the client claim (H08)')
  t.equal(seen.headers['x-forwarded-proto'], 'http')
  t.equal(seen.headers['x-forwarded-host'], 'gateway.example')
  t.equal(seen.headers.forwarded, undefined, 'client Forwarded dropped (H10)')
  t.equal(seen.headers['x-real-ip'], undefined, 'client X-Real-IP dropped (H05)')
  t.equal(seen.headers['keep-alive'], undefined)
  t.equal(seen.headers.te, undefined)
  t.equal(seen.headers['proxy-authorization'], undefined)
  t.not(seen.headers.host, 'gateway.example', 'upstream Host is the upstream authority (H13)')
})

t.test('x-request-id: kept when well-formed, generated otherwise, sent upstream and returned', async (t) => {
  const kept = await fetch(`${gw.url}/public/rid`, { headers: { 'x-request-id': 'abc-123.def' } })
  t.equal(kept.headers.get('x-request-id'), 'abc-123.def')
  t.equal(lastSeen().headers['x-request-id'], 'abc-123.def')

  const replaced = await fetch(`${gw.url}/public/rid`, { headers: { 'x-request-id': 'bad id with spaces<script>' } })
  const id = replaced.headers.get('x-request-id') ?? ''
  t.match(id, /^[0-9a-f-]{36}$/, 'a malformed id is replaced by a UUID')
  t.equal(lastSeen().headers['x-request-id'], id)

  const generated = await fetch(`${gw.url}/public/rid`)
  t.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/)
  const notFound = await fetch(`${gw.url}/nowhere`)
  t.match(notFound.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'error answers carry one too')
})

t.test('identity headers sent by the client never reach the upstream (issue 2 point 7)', async (t) => {
  const spoofed = [
    'X-Auth-Subject: root',
    'x-auth-scopes: admin',
    'X-AUTH-CLIENT-ID: evil',
    'X-Auth-Token-Id: forged',
    'X-Auth-Subject: second-copy',
    'X_Auth_Subject: underscore',
    'x_auth_scopes: underscore',
    'X-Auth_Subject: mixed',
    'x_auth-client-id: mixed',
    'X-Auth-Anything-Else: custom',
    'X-Original-URL: /admin',
    'X-HTTP-Method-Override: DELETE'
  ]
  const res = await rawRequest(gw.port, ['GET /public/spoof HTTP/1.1', 'Host: x', ...spoofed, 'Connection: close', '', ''].join('\r\n'))
  t.equal(res.status, 200)
  const names = lastSeen().rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
  const leaked = names.filter((n) => n.replaceAll('_', '-').startsWith('x-auth-'))
  t.same(leaked, [], 'no x-auth-* or x_auth_* header of any case reached the upstream')
  t.notOk(names.includes('x-original-url'), 'X-Original-URL stripped (P24)')
  t.notOk(names.includes('x-http-method-override'), 'method override stripped (P25)')
})

t.test('identity headers named in Connection are stripped, and cannot strip the gateway\'s own', async (t) => {
  const res = await rawRequest(gw.port, [
    'GET /public/conn HTTP/1.1', 'Host: x',
    'Connection: close, X-Auth-Subject, X-Forwarded-For, X-Request-Id',
    'X-Auth-Subject: root', '', ''
  ].join('\r\n'))
  t.equal(res.status, 200)
  const seen = lastSeen()
  t.equal(seen.headers['x-auth-subject'], undefined)
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'gateway XFF still set (H06)')
  t.ok(seen.headers['x-request-id'], 'gateway request id still set')
  t.equal(seen.headers.connection === undefined || seen.headers.connection === 'keep-alive' || seen.headers.connection === 'close', true)
})

t.test('no route: 404 JSON; wrong method: 405 with Allow', async (t) => {
  const nf = await fetch(`${gw.url}/nothing/here`)
  t.equal(nf.status, 404)
  t.match(nf.headers.get('content-type') ?? '', /application\/json/)
  t.same(await nf.json(), { error: 'not_found', error_description: 'No route matches this path' })

  const before = echo.seen.length
  const na = await fetch(`${gw.url}/items/7`, { method: 'DELETE' })
  t.equal(na.status, 405)
  t.equal(na.headers.get('allow'), 'GET, HEAD, PUT')
  t.same(await na.json(), { error: 'method_not_allowed', error_description: 'Method not allowed on this path' })
  t.equal(echo.seen.length, before, 'the upstream saw nothing')

  const ok = await fetch(`${gw.url}/items/7`, { method: 'PUT', body: '{}' })
  t.equal(ok.status, 200, 'the same path with an allowed method is forwarded')
})

t.test('ambiguous paths are refused with 400 JSON and never forwarded', async (t) => {
  const before = echo.seen.length
  for (const target of ['/public/../items/1', '/public/%2e%2e/items/1', '/public/x%2Fy', '/public//x', '/public/%c0%ae']) {
    const res = await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    t.equal(res.status, 400, target)
    t.equal(JSON.parse(res.body).error, 'invalid_request', target)
  }
  const abs = await rawRequest(gw.port, `GET http://evil.example/public/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  t.equal(abs.status, 400, 'absolute-form refused (P21)')
  t.equal(echo.seen.length, before, 'the upstream saw none of them')
})

t.test('upstream refused: 502 JSON; past the route timeout: 504 JSON; others keep working', async (t) => {
  const refused = await fetch(`${gw.url}/down/x`)
  t.equal(refused.status, 502)
  t.same(await refused.json(), { error: 'bad_gateway', error_description: 'The upstream service is unreachable' })

  const started = Date.now()
  const slow = await fetch(`${gw.url}/slow/4000/x`)
  t.equal(slow.status, 504)
  t.same(await slow.json(), { error: 'gateway_timeout', error_description: 'The upstream service did not answer in time' })
  t.ok(Date.now() - started < 4000, 'answered at the 300 ms route timeout, not when the upstream finished (4 s)')

  const fine = await fetch(`${gw.url}/slow/10/x`)
  t.equal(fine.status, 200, 'the same route answers within its timeout')
  const other = await fetch(`${gw.url}/public/still-fine`)
  t.equal(other.status, 200, 'other routes keep working')
})

t.test('upstream resets the connection: 502 JSON', async (t) => {
  const reset = await fetch(`${gw.url}/reset/x`)
  t.equal(reset.status, 502)
  t.same(await reset.json(), { error: 'bad_gateway', error_description: 'The upstream service is unreachable' })
  t.equal((await fetch(`${gw.url}/public/after-reset`)).status, 200, 'the gateway keeps serving')
})

t.test('healthz and readyz', async (t) => {
  const h = await fetch(`${gw.url}/healthz`)
  t.equal(h.status, 200)
  t.same(await h.json(), { status: 'ok' })
  const r = await fetch(`${gw.url}/readyz`)
  t.equal(r.status, 200)
  const body = await r.json() as { status: string; store: string; routes: number }
  t.equal(body.status, 'ready')
  t.equal(body.store, 'memory')
  t.equal(body.routes, 8)
})

t.test('TRUST_PROXY: a listed proxy in front keeps the client chain (appended), others are overwritten (H08/H09)', async (t) => {
  const publicOnly = `
version: 1
upstreams:
  echo: { url: ${echo.url} }
routes:
  - path: /public/*
    upstream: echo
    auth: none
`
  const send = async (url: string) => {
    await fetch(`${url}/public/xff`, { headers: { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https' } })
    return lastSeen().headers
  }
  const behind = await startTestGateway(t, { routes: publicOnly, env: { TRUST_PROXY: '127.0.0.1' } })
  const trusted = await send(behind.url)
  t.equal(trusted['x-forwarded-for'], '198.51.100.7, 127.0.0.1', 'the trusted peer is appended to the chain')
  t.equal(trusted['x-forwarded-proto'], 'https', 'the trusted proxy terminated TLS')

  const elsewhere = await startTestGateway(t, { routes: publicOnly, env: { TRUST_PROXY: '10.0.0.0/8' } })
  const untrusted = await send(elsewhere.url)
  t.equal(untrusted['x-forwarded-for'], '127.0.0.1', 'a peer outside the list cannot set the chain')
  t.equal(untrusted['x-forwarded-proto'], 'http')
})
