// Input limits through real listening gateways (issue 5 point 3; security-catalogue J35, J36, T10,
// F16, F17): request head size (431), body size per route and at /oauth/* (413), bearer token length
// (401), headers and request timeouts against slow clients (408 and close), connections per instance.
import t from 'tap'
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { rawRequest } from '../helpers/raw-http.js'
import { mint, userClaims } from '../helpers/tokens.js'

// --- an upstream that counts the body bytes it receives and whether the body ended

interface Received { url: string, bytes: number, complete: boolean, closed: boolean }

const received: Received[] = []
const upstream = createServer((req, res) => {
  const entry: Received = { url: req.url ?? '', bytes: 0, complete: false, closed: false }
  received.push(entry)
  req.on('data', (c: Buffer) => { entry.bytes += c.length })
  req.on('error', () => {}) // a body cut off by the gateway
  req.on('close', () => { entry.closed = true })
  req.on('end', () => {
    entry.complete = true
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ bytes: entry.bytes }))
  })
})
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => { upstream.closeAllConnections(); upstream.close(() => resolve()) }))
const UPSTREAM = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`

const ROUTES = `
version: 1
upstreams:
  up: { url: ${UPSTREAM}, timeout: 5s }
routes:
  - { path: /small/*, upstream: up, auth: none, body_limit: 1kb }
  - { path: /open/*, upstream: up, auth: none }
  - { path: /me, upstream: up }
`

/** What reached the upstream for `path` (after its connection settled). */
async function seenAt (path: string): Promise<Received[]> {
  for (let i = 0; i < 50 && received.some((r) => r.url === path && !r.closed && !r.complete); i++) await sleep(20)
  return received.filter((r) => r.url === path)
}

function json (body: string): Record<string, unknown> {
  return JSON.parse(body) as Record<string, unknown>
}

// --- J35: request head size

t.test('J35: a request head over MAX_HEADER_SIZE is 431 with a JSON body, and the connection is closed', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES, env: { MAX_HEADER_SIZE: '4096' } })
  const big = await rawRequest(gw.port, `GET /open/big HTTP/1.1\r\nHost: a\r\nX-Pad: ${'p'.repeat(5000)}\r\n\r\n`)
  t.equal(big.status, 431)
  t.match(big.headers['content-type'], /^application\/json/)
  t.same(json(big.body), { error: 'request_header_fields_too_large', error_description: 'Request header fields too large' })
  t.equal(big.headers.connection, 'close')
  t.same(await seenAt('/open/big'), [], 'the upstream recorded nothing')

  const fits = await rawRequest(gw.port, `GET /open/fits HTTP/1.1\r\nHost: a\r\nX-Pad: ${'p'.repeat(3000)}\r\nConnection: close\r\n\r\n`)
  t.equal(fits.status, 200, 'a head under the configured limit passes')
})

t.test('J35: a 20 KB Authorization header is 431 at the default 16 KiB limit, never parsed', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES })
  const res = await rawRequest(gw.port, `GET /me HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${'a'.repeat(20_000)}\r\n\r\n`)
  t.equal(res.status, 431)
  t.equal(json(res.body).error, 'request_header_fields_too_large')
  t.same(await seenAt('/me'), [])
})

// --- J36: bearer token length

t.test('J36: a validly signed token longer than MAX_TOKEN_LENGTH is 401 invalid_token; under the limit it passes', async (t) => {
  const strict = await startTestGateway(t, { routes: ROUTES, env: { MAX_TOKEN_LENGTH: '1024' } })
  const roomy = await startTestGateway(t, { routes: ROUTES, store: strict.store, keys: strict.keys })
  const token = mint(strict.keys, userClaims(strict.config, { pad: 'x'.repeat(1500) }))
  t.ok(token.length > 1024 && token.length < 4096, `token of ${token.length} bytes`)
  const before = received.length

  const refused = await fetch(`${strict.url}/me`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(refused.status, 401)
  t.equal(refused.headers.get('www-authenticate'), 'Bearer realm="portcullis", error="invalid_token", error_description="The access token is invalid"')
  t.same(await refused.json(), { error: 'invalid_token', error_description: 'The access token is invalid' })
  t.equal(received.length, before, 'the upstream recorded nothing')

  const passed = await fetch(`${roomy.url}/me`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(passed.status, 200, 'the same token passes under the default 4096')
})

// --- F17, T10: body size

/** POSTs `chunks` without Content-Length (chunked), `gapMs` apart; resolves with the answer. */
function postChunked (gw: TestGateway, path: string, chunks: number, size: number, gapMs: number): Promise<{ status: number, body: string, sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0
    let done = false
    const req = httpRequest(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' } })
    req.on('response', (res: IncomingMessage) => {
      done = true
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body, sent }) })
      res.on('error', reject)
    })
    req.on('error', (err) => { if (!done) reject(err) })
    void (async () => {
      for (let i = 0; i < chunks && !done; i++) {
        req.write(Buffer.alloc(size, 0x61))
        sent += size
        await sleep(gapMs)
      }
      if (!done) req.end()
    })()
  })
}

t.test('F17: body size per route (body_limit) and MAX_BODY_SIZE, enforced on the streamed body', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES, env: { MAX_BODY_SIZE: '65536' } })
  const TOO_LARGE = { error: 'payload_too_large', error_description: 'Request body too large' }

  t.test('a Content-Length over the route limit is 413 before the upstream is contacted', async (t) => {
    const res = await fetch(`${gw.url}/small/declared`, { method: 'POST', body: Buffer.alloc(2048, 0x61) })
    t.equal(res.status, 413)
    t.same(await res.json(), TOO_LARGE)
    t.equal(res.headers.get('connection'), 'close')
    t.same(await seenAt('/small/declared'), [], 'the upstream recorded nothing')
  })

  t.test('exactly the limit passes, whole', async (t) => {
    const res = await fetch(`${gw.url}/small/exact`, { method: 'POST', body: Buffer.alloc(1024, 0x61) })
    t.equal(res.status, 200)
    t.same(await res.json(), { bytes: 1024 })
  })

  t.test('a chunked body is counted while streaming: past the limit 413, and the upstream never gets all of it', async (t) => {
    const res = await postChunked(gw, '/small/chunked', 8, 512, 30)
    t.equal(res.status, 413)
    t.same(json(res.body), TOO_LARGE)
    t.ok(res.sent < 8 * 512, `the client was stopped after ${res.sent} of ${8 * 512} bytes`)
    const seen = await seenAt('/small/chunked')
    t.equal(seen.length, 1)
    t.equal(seen[0]!.complete, false, 'the upstream request was aborted')
    t.ok(seen[0]!.bytes <= 1024, `the upstream got ${seen[0]!.bytes} bytes, at most the limit`)
  })

  t.test('a chunked body under the limit passes, whole', async (t) => {
    const res = await postChunked(gw, '/small/chunked-ok', 2, 400, 5)
    t.equal(res.status, 200)
    t.same(json(res.body), { bytes: 800 })
  })

  t.test('F15: a client gone mid chunked body aborts the upstream request at once', async (t) => {
    const req = httpRequest(`${gw.url}/small/gone`, { method: 'POST' })
    req.on('error', () => {})
    req.write(Buffer.alloc(100, 0x61))
    for (let i = 0; i < 50 && !received.some((r) => r.url === '/small/gone' && r.bytes > 0); i++) await sleep(10)
    req.destroy()
    const started = Date.now()
    const entry = received.find((r) => r.url === '/small/gone')!
    while (!entry.closed && Date.now() - started < 5000) await sleep(10)
    // closed because the client went, not by the 5 s upstream timeout (the wrong behaviour this guards against)
    t.ok(entry.closed && Date.now() - started < 5000, `upstream request closed after ${Date.now() - started} ms, before the 5 s upstream timeout`)
    t.equal(entry.complete, false)
  })

  t.test('routes without body_limit get MAX_BODY_SIZE', async (t) => {
    const over = await fetch(`${gw.url}/open/over`, { method: 'POST', body: Buffer.alloc(65_537, 0x61) })
    t.equal(over.status, 413)
    t.same(await over.json(), TOO_LARGE)
    t.same(await seenAt('/open/over'), [])
    const under = await fetch(`${gw.url}/open/under`, { method: 'POST', body: Buffer.alloc(65_536, 0x61) })
    t.equal(under.status, 200)
    t.same(await under.json(), { bytes: 65_536 })
  })

  t.test('T10: an /oauth/token body over 8 KiB is 413 JSON', async (t) => {
    const res = await fetch(`${gw.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=password&username=${'u'.repeat(9000)}`
    })
    t.equal(res.status, 413)
    t.same(await res.json(), TOO_LARGE)
  })

  t.test('OAUTH_BODY_LIMIT: the /oauth/* body limit is configurable', async (t) => {
    const small = await startTestGateway(t, { routes: 'version: 1\nupstreams: {}\nroutes: []\n', env: { OAUTH_BODY_LIMIT: '512' } })
    const res = await fetch(`${small.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=password&username=${'u'.repeat(600)}`
    })
    t.equal(res.status, 413)
    t.same(await res.json(), TOO_LARGE)
    const fits = await fetch(`${small.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=nope' })
    t.equal(fits.status, 400, 'a body under the limit is parsed (and refused for its grant type)')
  })
})

// --- F16: slow clients

/** Opens a socket, writes `head`, then `drip` every `gapMs`; resolves when the server closes it. */
function slowClient (port: number, head: string, drip: string, gapMs: number): Promise<{ ms: number, answer: string }> {
  return new Promise((resolve) => {
    const started = Date.now()
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.setEncoding('latin1')
    socket.on('data', (c: string) => { answer += c })
    socket.on('error', () => {})
    const timer = setInterval(() => { if (socket.writable) socket.write(drip) }, gapMs)
    socket.on('close', () => {
      clearInterval(timer)
      resolve({ ms: Date.now() - started, answer })
    })
    socket.write(head)
  })
}

t.test('F16: HEADERS_TIMEOUT and REQUEST_TIMEOUT close slow clients with 408', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES, env: { HEADERS_TIMEOUT: '1', REQUEST_TIMEOUT: '4' } })
  const TIMEOUT = '{"error":"request_timeout","error_description":"The request was not received in time"}'

  const [headers, body] = await Promise.all([
    // slowloris: a header line every 100 ms, never the blank line that ends them
    slowClient(gw.port, 'GET /open/slowloris HTTP/1.1\r\nHost: a\r\n', 'X-A: b\r\n', 100),
    // headers on time, then the body one byte every 100 ms
    slowClient(gw.port, 'POST /open/slow-body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n', 'x', 100)
  ])
  t.match(headers.answer, /^HTTP\/1\.1 408 /, 'slow headers: 408')
  t.ok(headers.answer.endsWith(TIMEOUT), 'with a JSON body')
  // never before its bound; and by HEADERS_TIMEOUT, not REQUEST_TIMEOUT: well before the slow body
  // that started with it and is closed by REQUEST_TIMEOUT (compared in one run, so no machine speed is assumed)
  t.ok(headers.ms >= 900, `slow headers closed after ${headers.ms} ms (HEADERS_TIMEOUT 1 s)`)
  t.ok(headers.ms + 1500 < body.ms, `slow headers closed by HEADERS_TIMEOUT: ${headers.ms} ms, 3 s before REQUEST_TIMEOUT closed the slow body (${body.ms} ms)`)
  t.same(await seenAt('/open/slowloris'), [], 'never forwarded')

  t.match(body.answer, /^HTTP\/1\.1 408 /, 'slow body: 408')
  t.ok(body.answer.endsWith(TIMEOUT))
  t.ok(body.ms >= 3900, `slow body closed after ${body.ms} ms (REQUEST_TIMEOUT 4 s, never before)`)
  const seen = await seenAt('/open/slow-body')
  t.ok(seen.every((r) => !r.complete), 'the upstream never got a complete body')
})

t.test('F16: an idle keep-alive connection is not a slow client', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES, env: { HEADERS_TIMEOUT: '1', REQUEST_TIMEOUT: '1' } })
  const socket = connect(gw.port, '127.0.0.1')
  let answer = ''
  socket.setEncoding('latin1')
  socket.on('data', (c: string) => { answer += c })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write('GET /open/first HTTP/1.1\r\nHost: a\r\n\r\n')
  await sleep(1600) // longer than both timeouts and the check interval, shorter than the keep-alive timeout
  t.notOk(socket.destroyed, 'still open')
  socket.write('GET /open/second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
  await new Promise((resolve) => socket.once('close', resolve))
  t.equal(answer.match(/HTTP\/1\.1 200 /g)?.length, 2, 'both requests answered 200')
  t.notMatch(answer, / 408 /)
})

// --- connections per instance

t.test('MAX_CONNECTIONS: connection N+1 is closed while N are open; the N are served', async (t) => {
  const gw = await startTestGateway(t, { routes: ROUTES, env: { MAX_CONNECTIONS: '3' } })
  const count = (): Promise<number> => new Promise((resolve, reject) => {
    gw.app.server.getConnections((err, n) => { if (err !== null) reject(err); else resolve(n) })
  })
  const open = async (): Promise<Socket> => {
    const s = connect(gw.port, '127.0.0.1')
    s.on('error', () => {})
    await new Promise((resolve) => s.once('connect', resolve))
    return s
  }
  const held = [await open(), await open(), await open()]
  t.teardown(() => { for (const s of held) s.destroy() })
  for (let i = 0; i < 50 && await count() < 3; i++) await sleep(10)
  t.equal(await count(), 3)

  const extra = await open()
  const closed = await Promise.race([
    new Promise<boolean>((resolve) => extra.once('close', () => resolve(true))),
    sleep(1000).then(() => false)
  ])
  t.ok(closed, 'the 4th connection was closed at once')
  t.equal(extra.bytesRead, 0, 'without an answer')

  // the three held connections are still served
  const answer = new Promise<string>((resolve) => {
    let text = ''
    held[0]!.setEncoding('latin1')
    held[0]!.on('data', (c: string) => { text += c })
    held[0]!.once('close', () => resolve(text))
  })
  held[0]!.write('GET /open/held HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
  t.match(await answer, /^HTTP\/1\.1 200 /)

  // one closed, so a new connection is accepted again
  for (let i = 0; i < 50 && await count() > 2; i++) await sleep(10)
  const again = await rawRequest(gw.port, 'GET /open/again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
  t.equal(again.status, 200)
})
