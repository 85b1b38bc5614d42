// Target `undici-direct` (optional, BENCH_TARGETS=…,undici-direct): Fastify + one catch-all route that
// forwards with an undici Pool directly, no auth, no logging. The upstream's response is written to
// the client's `reply.raw` from undici's dispatch handler: no reply-from, no stream in between.
// It measures the floor under `fastify-bare` (which is @fastify/http-proxy over reply-from over undici).
// Env: PORT, UPSTREAM (http://127.0.0.1:N), PIPELINING (undici's, default 1).
import Fastify, { type FastifyReply } from 'fastify'
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { Pool, type Dispatcher } from 'undici'

/** RFC 9110 §7.6.1 hop-by-hop fields (and Expect, which undici refuses; host: undici sets the upstream's). */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'proxy-authorization', 'proxy-authenticate', 'http2-settings', 'expect', 'host'])
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'proxy-authenticate'])

const upstream = new URL(String(process.env.UPSTREAM))
const pool = new Pool(upstream.origin, { pipelining: Number(process.env.PIPELINING ?? 1), connections: 128 })

/** undici's legacy handler interface (what its core calls without a wrapper): raw header buffers. */
class ToClient implements Dispatcher.DispatchHandler {
  #res: ServerResponse
  #reply: FastifyReply
  #resume: (() => void) | null = null
  constructor (reply: FastifyReply) {
    this.#reply = reply
    this.#res = reply.raw
  }

  onConnect (abort: (err?: Error) => void): void {
    // the client gone: the upstream request goes too
    if (this.#res.destroyed) abort()
    else this.#res.once('close', () => { if (!this.#res.writableFinished) abort() })
  }

  onHeaders (statusCode: number, raw: Buffer[], resume: () => void): boolean {
    this.#resume = resume
    const fields: string[] = []
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as Buffer).toString('latin1')
      if (HOP_BY_HOP_RESPONSE.has(name.toLowerCase())) continue
      fields.push(name, (raw[i + 1] as Buffer).toString('latin1'))
    }
    this.#res.writeHead(statusCode, fields)
    return true
  }

  onData (chunk: Buffer): boolean {
    const ok = this.#res.write(chunk)
    if (!ok) this.#res.once('drain', this.#resume!)
    return ok
  }

  onComplete (): void {
    this.#res.end()
  }

  onError (err: Error): void {
    if (this.#res.headersSent) this.#res.destroy(err)
    else void this.#reply.code(502).send({ error: 'upstream_unreachable' })
  }
}

const app = Fastify({ logger: false })
// bodies go upstream as the stream they arrive as
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', (_req, payload, done) => { done(null, payload) })
app.all('/*', (request, reply) => {
  const incoming = request.headers
  const headers: IncomingHttpHeaders = {}
  for (const name of Object.keys(incoming)) if (!NOT_FORWARDED.has(name)) headers[name] = incoming[name]
  const method = request.method as Dispatcher.HttpMethod
  const body = method === 'GET' || method === 'HEAD' ? null : request.raw
  pool.dispatch({ path: request.url, method, headers: headers as Record<string, string>, body }, new ToClient(reply))
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.stdout.write(`undici-direct listening on ${process.env.PORT}\n`)
process.on('SIGTERM', () => { void app.close().then(async () => await pool.close()).then(() => process.exit(0)) })
