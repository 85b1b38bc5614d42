// A request is executed only while its client can still be told the outcome (issue 9 items 6, 7;
// SECURITY.md S08; RFC 9112 §9.3.2, §9.6). Raw TCP only: nothing between the test and the gateway
// may normalise, split or reorder the bytes. Every case waits (by polling, with a generous
// deadline) until the gateway has logged the request in question or the upstream has seen it,
// so "the upstream saw nothing" is an assertion about a finished request, never about a sleep.
import t from 'tap'
import { connect } from 'node:net'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { captureLogs, until } from '../helpers/log-capture.js'
import { rawRequest } from '../helpers/raw-http.js'

const echo = await startEchoUpstream()
t.teardown(() => echo.close())
const logs = captureLogs()
const gw = await startTestGateway(t, {
  logger: logs.logger,
  routes: `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 5s }
defaults:
  auth: none
routes:
  - path: /pub/*
    upstream: echo
  - path: /slow/*
    upstream: echo
  - path: /by-ip/*
    upstream: echo
    rate_limit: { limit: 100, window: 1m, by: ip }
`
})

const H = 'Host: 127.0.0.1\r\n'
const PARSER_400 = { error: 'invalid_request', error_description: 'Malformed request' }
/** The lines that end a request's story in the log: its access line, or its refusal. */
const FINAL = new Set(['request', 'request aborted', 'request refused', 'request failed'])

const upstreamSaw = (id: string): boolean => echo.seen.some((s) => s.headers['x-request-id'] === id)
const linesOf = (id: string) => logs.lines.filter((l) => l.reqId === id)

/** Waits until the request `id` is finished: the upstream saw it, or the gateway logged its end. */
async function settled (id: string): Promise<void> {
  await until(() => upstreamSaw(id) || linesOf(id).some((l) => FINAL.has(l.msg ?? '')), `request ${id} to finish`)
}

interface Row {
  id: string
  proves: string
  /** The refused request (its bytes); a second request is pipelined behind it on the same connection. */
  first: string
  body: Record<string, string>
}

const ROWS: Row[] = [
  { id: 'S08a', proves: 'a request pipelined behind HTTP/1.0 with Transfer-Encoding is never executed: 400, connection closed (RFC 9112 §6.1)', first: `POST /pub/first HTTP/1.0\r\n${H}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, body: PARSER_400 },
  { id: 'S08b', proves: 'a request pipelined behind two Host lines is never executed: 400, connection closed (RFC 9112 §3.2)', first: `GET /pub/first HTTP/1.1\r\n${H}Host: other.example\r\n\r\n`, body: { error: 'invalid_request', error_description: 'More than one Host header' } },
  { id: 'S08c', proves: 'a request pipelined behind an ambiguous path is never executed: 400 bad_path, connection closed', first: `GET /pub/a/%2e%2e/first HTTP/1.1\r\n${H}\r\n`, body: { error: 'invalid_request', error_description: 'Ambiguous or malformed request path' } },
  { id: 'S08d', proves: 'a request pipelined behind an invalid Host is never executed: 400, connection closed (RFC 9112 §3.2)', first: `GET /pub/first HTTP/1.1\r\nHost: a b\r\n\r\n`, body: { error: 'invalid_request', error_description: 'Invalid Host header' } }
]

t.test('issue 9 item 7: nothing pipelined behind a framing refusal is executed', async (t) => {
  for (const row of ROWS) {
    t.test(`${row.id}: ${row.proves}`, async (t) => {
      const second = `second-${row.id}`
      // rawRequest resolves only when the gateway closes the connection (the client never asks it to)
      const res = await rawRequest(gw.port, `${row.first}GET /pub/${second} HTTP/1.1\r\n${H}X-Request-Id: ${second}\r\n\r\n`, 5000)
      t.equal(res.status, 400)
      t.match(res.headers['content-type'], /^application\/json/)
      t.equal(res.headers.connection, 'close')
      t.same(JSON.parse(res.body), row.body)
      t.equal(res.raw.match(/HTTP\/1\.[01] \d{3}/g)?.length, 1, 'exactly one response on the connection')
      await settled(second)
      t.notOk(upstreamSaw(second), 'the upstream never saw the pipelined request')
      t.notOk(echo.seen.some((s) => s.url.includes('first')), 'nor the refused one')
    })
  }
})

t.test('control: two well-formed pipelined requests are both answered, in order', async (t) => {
  const res = await rawRequest(gw.port, `GET /pub/p1 HTTP/1.1\r\n${H}\r\nGET /pub/p2 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 10_000)
  const urls = [...res.raw.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1])
  t.same(urls, ['/pub/p1', '/pub/p2'])
  t.equal(res.raw.match(/HTTP\/1\.1 200/g)?.length, 2)
})

t.test('issue 9 item 6: a parser error behind a complete request means that request is never forwarded', async (t) => {
  const cases = [
    { id: 'S08e', proves: 'one stray byte after a Connection: close request: 400, and the request never reaches the upstream', path: '/pub/stray' },
    { id: 'S08f', proves: 'the same on a by: ip route: 400, never forwarded, never a server_error (no TypeError on the missing address)', path: '/by-ip/stray' }
  ]
  for (const c of cases) {
    t.test(`${c.id}: ${c.proves}`, async (t) => {
      const id = `stray-${c.id}`
      const res = await rawRequest(gw.port, `GET ${c.path} HTTP/1.1\r\n${H}X-Request-Id: ${id}\r\nConnection: close\r\n\r\nX`, 10_000)
      t.equal(res.status, 400)
      t.same(JSON.parse(res.body), PARSER_400)
      t.equal(res.raw.match(/HTTP\/1\.[01] \d{3}/g)?.length, 1, 'one answer: the 400')
      // its story ends with its access line, marked aborted (or, before the fix, with the upstream)
      await until(() => upstreamSaw(id) || linesOf(id).some((l) => l.msg === 'request aborted' || l.msg === 'request failed'), `request ${id} to finish`)
      t.notOk(upstreamSaw(id), 'the client was told 400: the upstream never got the request')
      t.notOk(linesOf(id).some((l) => l.msg === 'request failed' || l.reason === 'server_error'), 'no server_error logged')
      t.match(linesOf(id).find((l) => l.msg === 'request aborted'), { method: 'GET', path: c.path, status: null, aborted: true }, 'its access line, marked aborted')
    })
  }
})

t.test('every forwarded request is logged: a client gone mid-response gets an aborted access line', async (t) => {
  const id = 'gone-mid-response'
  const socket = connect(gw.port, '127.0.0.1')
  socket.on('error', () => {})
  // the echo upstream holds /slow/<ms>/... that long: the client leaves while the upstream works
  socket.write(`GET /slow/3000/x HTTP/1.1\r\n${H}X-Request-Id: ${id}\r\n\r\n`)
  await until(() => upstreamSaw(id), 'the upstream to get the request')
  socket.destroy()
  await until(() => linesOf(id).some((l) => l.msg === 'request aborted'), 'its access line')
  const access = linesOf(id).filter((l) => l.msg === 'request' || l.msg === 'request aborted')
  t.equal(access.length, 1, 'exactly one access line')
  t.match(access[0], { method: 'GET', path: '/slow/3000/x', route: /\/slow\/\*$/, status: null, aborted: true })
})

t.test('S08g: a stray byte after a request already forwarded whole: no 400 (the upstream may have run it), the connection closes', async (t) => {
  const id = 'stray-after-forward'
  const socket = connect(gw.port, '127.0.0.1')
  let answer = ''
  socket.setEncoding('latin1')
  socket.on('data', (c: string) => { answer += c })
  socket.on('error', () => {})
  const closed = new Promise((resolve) => socket.once('close', resolve))
  socket.write(`GET /slow/2000/after HTTP/1.1\r\n${H}X-Request-Id: ${id}\r\nConnection: close\r\n\r\n`)
  await until(() => upstreamSaw(id), 'the upstream to get the request')
  socket.write('X') // data after Connection: close: a parser error behind a forwarded request
  await closed
  t.notMatch(answer, /HTTP\/1\.1 400/, 'never told "failed" about a request an upstream got whole')
  await until(() => linesOf(id).some((l) => l.msg === 'request' || l.msg === 'request aborted'), 'its access line')
})
