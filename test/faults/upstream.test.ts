// Catalogue F09-F12, F17 through a real gateway process: an upstream that refuses connections, one
// that resets mid-response, one that never answers, one that stalls mid-body, and one that streams
// a 200 MB body. The gateway answers 502/504 JSON, aborts the client connection when the upstream
// breaks after the headers, stays up, and streams: its RSS (read from /proc/<pid>/status) stays flat.
// test/integration/forwarding.test.ts covers 502 before headers (/reset) and 504 in-process.
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { request } from 'node:http'
import t from 'tap'
import { writeRoutes } from '../helpers/gateway.js'
import { freePort } from '../helpers/redis-server.js'
import { spawnGateway } from '../helpers/spawn-gateway.js'

const MB = 1024 * 1024
const HUGE_BYTES = 200 * MB
const ROUTE_TIMEOUT_MS = 1000
const CHUNK = Buffer.alloc(64 * 1024, 'x')

/** Paths: /midreset (headers, 1 KiB, then RST), /hang (never answers), /stall (headers, 1 KiB, then silence), /huge/<MB> (that many MB), else 200. */
const upstream: Server = createServer((req, res) => {
  const path = req.url ?? ''
  if (path.startsWith('/up/hang')) return
  if (path.startsWith('/up/midreset') || path.startsWith('/up/stall')) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(10 * MB) })
    res.write(Buffer.alloc(1024, 'a'))
    if (path.startsWith('/up/midreset')) setTimeout(() => { req.socket.resetAndDestroy() }, 50)
    return
  }
  if (path.startsWith('/up/huge/')) {
    const total = Number(path.split('/')[3]) * MB
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) })
    let sent = 0
    const pump = (): void => {
      while (sent < total) {
        sent += CHUNK.length
        if (!res.write(CHUNK)) { res.once('drain', pump); return }
      }
      res.end()
    }
    pump()
    return
  }
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end('{"ok":true}')
})
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
t.teardown(() => { upstream.closeAllConnections(); upstream.close() })
const upPort = (upstream.address() as { port: number }).port
const closedPort = await freePort()

const routes = writeRoutes(`
version: 1
upstreams:
  up: { url: http://127.0.0.1:${upPort}, timeout: ${ROUTE_TIMEOUT_MS}ms }
  gone: { url: http://127.0.0.1:${closedPort}, timeout: 1s }
routes:
  - path: /up/*
    upstream: up
    auth: none
  - path: /gone/*
    upstream: gone
    auth: none
`)
const gw = await spawnGateway(['serve'], { ROUTES_FILE: routes, LOG_LEVEL: 'info' })
t.teardown(() => { if (gw.child.exitCode === null) gw.child.kill('SIGKILL') })
await waitUntilServing()

async function waitUntilServing (): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${gw.url}/healthz`).then((r) => r.ok, () => false)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('gateway not serving')
}

/** Resident set size of the gateway process in bytes (VmRSS in /proc/<pid>/status). */
function rss (): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${gw.child.pid!}/status`, 'utf8'))
  if (m === null) throw new Error('no VmRSS')
  return Number(m[1]) * 1024
}

/** Reads /up/huge/<mb> and discards it chunk by chunk: the test client buffers nothing either. */
async function drain (mb: number): Promise<{ status: number; bytes: number }> {
  const res = await fetch(`${gw.url}/up/huge/${mb}`)
  let bytes = 0
  for await (const chunk of res.body! as AsyncIterable<Uint8Array>) bytes += chunk.byteLength
  return { status: res.status, bytes }
}

async function stillServing (): Promise<number> {
  return (await fetch(`${gw.url}/up/ok`)).status
}

t.test('F09: upstream refuses connections → 502 JSON at once, no address in the body', async (t) => {
  const started = Date.now()
  const res = await fetch(`${gw.url}/gone/x`)
  const text = await res.text()
  t.equal(res.status, 502)
  t.same(JSON.parse(text), { error: 'bad_gateway', error_description: 'The upstream service is unreachable' })
  t.notMatch(text, /127\.0\.0\.1|ECONNREFUSED|\d{4,5}/, 'no upstream address or port in the body')
  // refused at once, not after the route's 1 s timeout (the wrong behaviour this guards against)
  t.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms, before the 1 s route timeout`)
  t.equal(await stillServing(), 200)
})

t.test('F12: upstream resets after the headers → the client connection is aborted; the gateway stays up', async (t) => {
  const outcome = await new Promise<{ status: number; bytes: number; error: string | null }>((resolve) => {
    const req = request(`${gw.url}/up/midreset`, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => { bytes += c.length })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, bytes, error: null }) })
      res.on('error', (err) => { resolve({ status: res.statusCode ?? 0, bytes, error: err.message }) })
      res.on('aborted', () => { resolve({ status: res.statusCode ?? 0, bytes, error: 'aborted' }) })
    })
    req.on('error', (err) => { resolve({ status: 0, bytes: 0, error: err.message }) })
    req.end()
  })
  t.equal(outcome.status, 200, 'the headers had been forwarded')
  t.ok(outcome.bytes < 10 * MB, `the body is cut short (${outcome.bytes} of ${10 * MB} bytes)`)
  t.not(outcome.error, null, `the client sees the connection end abnormally (${outcome.error})`)
  t.equal(await stillServing(), 200, 'the next request is served')
  t.equal(gw.child.exitCode, null, 'the process is alive')
})

t.test('F10: upstream never answers → 504 JSON at the route timeout', async (t) => {
  const started = Date.now()
  const res = await fetch(`${gw.url}/up/hang`)
  const ms = Date.now() - started
  t.equal(res.status, 504)
  t.same(await res.json(), { error: 'gateway_timeout', error_description: 'The upstream service did not answer in time' })
  t.ok(ms >= ROUTE_TIMEOUT_MS - 50 && ms < ROUTE_TIMEOUT_MS + 4000, `answered after ${ms} ms (route timeout ${ROUTE_TIMEOUT_MS} ms)`)
  t.equal(await stillServing(), 200)
})

t.test('F11: upstream stalls mid-body → the client connection is closed after the route timeout', async (t) => {
  const started = Date.now()
  const outcome = await new Promise<{ bytes: number; ended: string }>((resolve) => {
    const req = request(`${gw.url}/up/stall`, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => { bytes += c.length })
      res.on('end', () => { resolve({ bytes, ended: 'end' }) })
      res.on('error', () => { resolve({ bytes, ended: 'error' }) })
      res.on('aborted', () => { resolve({ bytes, ended: 'aborted' }) })
    })
    req.on('error', () => { resolve({ bytes: 0, ended: 'request error' }) })
    req.setTimeout(10_000, () => { req.destroy(); resolve({ bytes: -1, ended: 'client gave up' }) })
    req.end()
  })
  const ms = Date.now() - started
  t.not(outcome.ended, 'client gave up', 'the gateway, not the client, ended it')
  t.not(outcome.ended, 'end', 'never presented as a complete body')
  t.ok(ms < ROUTE_TIMEOUT_MS + 3000, `closed after ${ms} ms (route timeout ${ROUTE_TIMEOUT_MS} ms between chunks)`)
  t.equal(await stillServing(), 200)
})

t.test('F17: a 200 MB upstream body is streamed; the gateway RSS stays flat', async (t) => {
  await drain(20) // warm: connection pool, JIT, stream buffers at their working size
  const before = rss()
  let peak = before
  const sampler = setInterval(() => { try { peak = Math.max(peak, rss()) } catch { /* exited */ } }, 50)
  const started = Date.now()
  const { status, bytes } = await drain(HUGE_BYTES / MB)
  clearInterval(sampler)
  peak = Math.max(peak, rss())
  t.equal(status, 200)
  const secs = (Date.now() - started) / 1000
  t.equal(bytes, HUGE_BYTES, `all ${HUGE_BYTES / MB} MB arrived in ${secs.toFixed(1)} s`)
  const growth = peak - before
  t.ok(growth < 50 * MB, `gateway RSS ${Math.round(before / MB)} MB before, peak ${Math.round(peak / MB)} MB during: growth ${Math.round(growth / MB)} MB (< 50 MB)`)
  t.equal(await stillServing(), 200)
})
