// The upstream's answer, written to the client's response as it arrives: an undici dispatch
// handler (the controller interface of undici 7) whose status line and fields become one
// `writeHead` on `reply.raw`, whose body chunks are written as they come (undici paused while the
// client's socket is full), and whose end ends the response. No stream sits in between: the
// response still ends on `reply.raw`, so Fastify's onResponse hooks (metrics, access log) run on
// its 'finish' as for any reply. onSend hooks do not run for it: the fields they add to every
// response (x-request-id, and Connection: close while draining) are added here.
//
// A failure before the status line is answered through Fastify (502/504 JSON bodies, or the 413
// of a chunked body over its limit); after it, the response is cut (the client sees a truncated
// body, never a second status line).
//
// The route's upstream timeout is one native timer per request, here: until the status line, then
// between body chunks (stopped while the client's socket is full). undici's own headersTimeout and
// bodyTimeout are off (forward.ts passes 0): undici runs them on its "fast timers", objects kept in a
// list swept about once a second, so every request's timer (and the request it points to) outlived
// two scavenges and was promoted to the old space: 15.6 of the 44.6 MB promoted in 10 s at 17,000
// req/s (a sampling heap profile of what major collections freed), and each major collection paused
// the event loop 8-13 ms, which set the proxied p99 (bench/README.md). A native timer cleared at the
// response's end dies young.
import type { FastifyReply } from 'fastify'
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { errors, type Dispatcher } from 'undici'
import { GatewayError } from '../errors/gateway-error.js'
import { sendError } from '../errors/handler.js'
import type { CompiledRoute } from '../config/route-types.js'

type Controller = Dispatcher.DispatchController

/** The client's 502 or 504 for an upstream failure, and the transport cause for the log line. */
export function upstreamFailure (error: unknown, upstream: string): { ge: GatewayError, why: string | undefined } {
  const { code, statusCode, cause } = (error ?? {}) as { code?: string; statusCode?: number; cause?: { code?: unknown } }
  const timedOut = statusCode === 504 || (code?.includes('TIMEOUT') ?? false)
  // a wrapped transport error: its code (ECONNREFUSED, a TLS verification failure ...) says why
  const why = typeof cause?.code === 'string' ? cause.code : code
  const ge = new GatewayError(timedOut ? 'upstream_timeout' : 'upstream_unreachable', {
    cause: error, detail: `${upstream}: ${why ?? 'error'}`
  })
  return { ge, why }
}

/** 413, and the connection is closed: the rest of the body is not worth reading. */
export function tooLarge (limit: number, detail: string): GatewayError {
  return new GatewayError('payload_too_large', { headers: { connection: 'close' }, detail: `${detail} (limit ${limit} bytes)` })
}

export interface ResponseSettings {
  /** The upstream's response fields passed on (hop-by-hop, identity and, on limited routes, RateLimit-* dropped). */
  fields: (headers: IncomingHttpHeaders) => IncomingHttpHeaders
  /** The gateway is draining (app.ts): the response closes its connection. */
  isClosing: () => boolean
  /** The counter of a chunked request body (null: none); cut at its limit, the failure is a 413. */
  counter: { readonly exceeded: boolean } | null
  /** The request body limit, in bytes. */
  limit: number
}

export class UpstreamResponse implements Dispatcher.DispatchHandler {
  readonly #reply: FastifyReply
  readonly #res: ServerResponse
  readonly #route: CompiledRoute
  readonly #settings: ResponseSettings
  #controller: Controller | null = null
  #onDrain: (() => void) | null = null
  /** The route's upstream timeout: until the status line, then between body chunks (null: stopped). */
  #timer: NodeJS.Timeout | null = null
  #headersSeen = false

  constructor (reply: FastifyReply, route: CompiledRoute, settings: ResponseSettings) {
    this.#reply = reply
    this.#res = reply.raw
    this.#route = route
    this.#settings = settings
  }

  onRequestStart (controller: Controller, _context: object): void {
    this.#controller = controller
    this.#arm()
    // the client gone before the response ended: the upstream request goes too (SECURITY.md F15)
    if (this.#res.destroyed) controller.abort(new Error('client connection closed'))
    else this.#res.once('close', this.#clientClosed)
  }

  #arm (): void {
    if (this.#timer === null) this.#timer = setTimeout(this.#timedOut, this.#route.upstream.timeoutMs).unref()
    else this.#timer.refresh()
  }

  #disarm (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  // the errors undici would have raised itself: upstreamFailure maps both to a 504 (or a cut body)
  readonly #timedOut = (): void => {
    this.#timer = null
    this.#controller?.abort(this.#headersSeen ? new errors.BodyTimeoutError() : new errors.HeadersTimeoutError())
  }

  readonly #clientClosed = (): void => {
    if (!this.#res.writableFinished) this.#controller?.abort(new Error('client connection closed'))
  }

  onResponseStart (controller: Controller, statusCode: number, headers: IncomingHttpHeaders, _statusMessage: string): void {
    this.#headersSeen = true
    this.#arm()
    const res = this.#res
    if (res.destroyed) {
      controller.abort(new Error('client connection closed'))
      return
    }
    // fields the stages set (RateLimit-*), then the upstream's, then what the onSend hook sets
    const out = this.#reply.getHeaders() as OutgoingHttpHeaders
    const passed = this.#settings.fields(headers)
    for (const name of Object.keys(passed)) out[name] = passed[name]
    out['x-request-id'] = this.#reply.request.id
    // an HTTP/1 connection whose request body was not read to its end cannot carry another request
    if (this.#settings.isClosing() || !res.req.complete) out.connection = 'close'
    try {
      res.writeHead(statusCode, out)
    } catch (err) {
      // a status or field value Node refuses to write: nothing was sent yet
      controller.abort(err as Error)
    }
  }

  onResponseData (controller: Controller, chunk: Buffer): void {
    if (this.#res.write(chunk)) {
      this.#arm()
      return
    }
    // the client is slow, not the upstream: no timeout while paused
    this.#disarm()
    controller.pause()
    this.#res.once('drain', this.#onDrain ??= () => { this.#arm(); controller.resume() })
  }

  onResponseEnd (_controller: Controller, _trailers: IncomingHttpHeaders): void {
    this.#disarm()
    this.#res.end()
  }

  onResponseError (_controller: Controller, error: Error): void {
    this.#disarm()
    const res = this.#res
    if (res.headersSent) {
      // mid-body: the client must not take a cut body for a whole one
      res.destroy(error)
      return
    }
    if (res.destroyed) return // the client is gone: nobody to answer
    const reply = this.#reply
    const route = this.#route
    const up = route.upstream
    if (this.#settings.counter?.exceeded === true) {
      // the upstream got part of the body and a reset, never all of it
      const ge = tooLarge(this.#settings.limit, 'chunked body')
      reply.request.log.info({ reason: ge.code, route: route.id, upstream: up.name, limit: route.bodyLimit }, 'request refused')
      sendError(reply, ge)
      return
    }
    const { ge, why } = upstreamFailure(error, up.name)
    reply.request.log.warn({ reason: ge.code, upstream: up.name, route: route.id, cause: why }, 'upstream failed')
    sendError(reply, ge)
  }
}
