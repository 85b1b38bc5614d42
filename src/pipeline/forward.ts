// Stage 6, forward: stream the request to the route's upstream with undici's dispatch (the
// per-origin dispatcher of upstream-agents.ts); its answer is written to the client by
// forward-response.ts. The upstream receives exactly the canonical path the decision was made on,
// the gateway's identity headers (client copies stripped) and regenerated forwarding headers.
import type { FastifyReply } from 'fastify'
import { compile } from '@fastify/proxy-addr'
import type { IncomingHttpHeaders } from 'node:http'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { getGlobalDispatcher, type Dispatcher } from 'undici'
import { GatewayError } from '../errors/gateway-error.js'
import type { FinalStage, PipelineContext } from './context.js'
import { tooLarge, UpstreamResponse } from './forward-response.js'
import { canStillAnswer, CLOSE, markForwarded } from '../http/connection.js'
import { isAccessTokenName, queryHasAccessToken } from './bearer.js'
import { isIdentityHeader, isReservedHeader, setIdentityHeaders } from './identity-headers.js'
import { RATE_LIMIT_HEADERS } from './rate-limit.js'

/** RFC 9110 §7.6.1 hop-by-hop fields, plus h2c upgrade fields (SECURITY.md P31). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'proxy-authorization', 'proxy-authenticate', 'http2-settings']

export interface ForwardOptions {
  /** Whether the request arrived over TLS at this process (x-forwarded-proto). */
  https?: boolean
  /** TRUST_PROXY: peers whose X-Forwarded-For / -Proto are kept (appended to); empty: none. */
  trustedProxies?: readonly string[]
  /** MAX_BODY_SIZE: the body limit of routes without `body_limit`, in bytes. Default 10 MiB. */
  maxBodySize?: number
  /** Where requests are dispatched (UpstreamAgents' dispatcher); default: undici's global one. */
  dispatcher?: Dispatcher
  /** The gateway is draining (app.ts): responses close their connection. */
  isClosing?: () => boolean
}

const DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024

/**
 * Counts a body of unannounced length (chunked) on its way upstream and fails once it passes the
 * limit, so the upstream never receives the whole oversized body (SECURITY.md F17). A body with a
 * Content-Length needs no counting: it was checked before forwarding, and Node delivers exactly that.
 */
class BodyLimit extends Transform {
  exceeded = false
  #left: number
  constructor (limit: number) {
    super()
    this.#left = limit
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#left -= chunk.length
    if (this.#left >= 0) {
      callback(null, chunk)
      return
    }
    this.exceeded = true
    callback(new Error('request body over the route limit'))
  }
}


/** Checks the body against the route's limit; returns the counter a chunked body goes through. */
function limitBody (ctx: PipelineContext, limit: number): BodyLimit | null {
  const request = ctx.request
  const declared = request.headers['content-length']
  if (declared !== undefined) {
    // Node has checked it is one decimal number
    if (Number(declared) > limit) throw tooLarge(limit, `content-length ${declared}`)
    return null
  }
  const body = request.body as Readable | undefined
  if (typeof body?.pipe !== 'function') return null
  const counter = new BodyLimit(limit)
  // over the limit: stop reading, but keep the socket for the 413
  counter.once('error', () => {
    body.unpipe(counter)
    body.pause()
  })
  // pipe() does not pass an abort on: a client gone mid-body must abort the upstream request too (F15)
  body.once('close', () => {
    if (!body.readableEnded) counter.destroy(new Error('request body aborted by the client'))
  })
  request.body = body.pipe(counter)
  return counter
}

/** Whether the socket peer is one of the TRUST_PROXY proxies (the same list Fastify's trustProxy uses). */
export type PeerTrust = (peer: string) => boolean

export function peerTrust (proxies: readonly string[] = []): PeerTrust {
  // Stryker disable next-line ConditionalExpression,ArrowFunction: an empty list trusts nobody either way; this only skips compiling it
  if (proxies.length === 0) return () => false
  const trusted = compile([...proxies])
  return (peer) => trusted(peer, 0)
}

/**
 * Request fields that never travel upstream: HOP_BY_HOP, Expect (RFC 9110 §10.1.1, below), and
 * Host (the upstream's own authority is sent, RFC 9110 §7.2).
 */
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'expect', 'host'])

/** The field names a Connection field lists (lower case); null for none, `keep-alive` or `close`. */
function connectionNamed (connection: string | string[] | undefined): string[] | null {
  // `keep-alive` and `close` name no field that is not dropped anyway
  if (typeof connection !== 'string' || connection === 'keep-alive' || connection === 'close') return null
  return connection.split(',').map((n) => n.trim().toLowerCase())
}

/** The fields sent upstream; `host` is the upstream's authority (`host[:port]` of its origin). */
export function upstreamHeaders (ctx: PipelineContext, incoming: IncomingHttpHeaders, opts: ForwardOptions, isTrusted: PeerTrust, host?: string): IncomingHttpHeaders {
  const req = ctx.request
  // RFC 9110 §7.6.1: `Connection` and every field it names stay on the client's hop (named
  // fields are dropped before anything is added, so a client cannot strip what we add), and so
  // do the other hop-by-hop fields. RFC 9110 §10.1.1 Expect is for this hop: Node already
  // answered any 100-continue to the client, and undici refuses a request carrying `expect`.
  // Reserved (client-spoofable) fields go too, and the token when the route does not forward it.
  // One pass into a new object: the incoming one is left as it is, and no field is deleted.
  const dropToken = ctx.route !== null && !ctx.route.forwardToken
  const named = connectionNamed(incoming.connection)
  const headers: IncomingHttpHeaders = {}
  if (host !== undefined) headers.host = host
  for (const name of Object.keys(incoming)) {
    if (NOT_FORWARDED.has(name) || isReservedHeader(name) || (named !== null && named.includes(name))) continue
    // RFC 9449: the DPoP proof goes with the token
    if (dropToken && (name === 'authorization' || name === 'dpop')) continue
    headers[name] = incoming[name]
  }
  // client-sent forwarding headers are read (from the client's own fields) only when the peer is trusted
  const peer = req.socket.remoteAddress ?? ''
  const trustedPeer = isTrusted(peer)
  const priorXff = trustedPeer ? req.headers['x-forwarded-for'] : undefined
  const priorProto = trustedPeer ? req.headers['x-forwarded-proto'] : undefined
  setIdentityHeaders(headers as Record<string, unknown>, ctx.identity)
  headers['x-forwarded-for'] = typeof priorXff === 'string' && priorXff !== '' ? `${priorXff}, ${peer}` : peer
  headers['x-forwarded-proto'] = typeof priorProto === 'string' ? priorProto : (opts.https === true ? 'https' : 'http')
  headers['x-forwarded-host'] = req.headers.host ?? ''
  headers['x-request-id'] = req.id
  return headers
}

/**
 * The raw query minus every `access_token` parameter, however its name is percent-encoded
 * (`%61ccess_token`, `access%5Ftoken`, `access%5ftoken`): names are compared decoded, the way an
 * upstream's query parser reads them (bearer.ts isAccessTokenName; SECURITY.md J61).
 */
export function withoutAccessToken (query: string): string {
  return query.split('&').filter((part) => !isAccessTokenName(part.split('=', 1)[0]!)).join('&')
}

/**
 * RFC 9110 §7.6.1 applies to responses too: the upstream's connection fields stay on its hop (H14).
 * And the identity namespace is the gateway's in both directions: an upstream's `x-auth-*`
 * response fields (folded like request names, identity-headers.ts) never reach a client (H01).
 */
export function stripResponseHopByHop (headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return responseHeaders(headers, HOP_BY_HOP_SET)
}

/** On a limited route the gateway's RateLimit-* headers are the truth, not the upstream's own. */
function stripResponseHopByHopAndLimits (headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return responseHeaders(headers, HOP_BY_HOP_AND_LIMITS)
}
const HOP_BY_HOP_SET = new Set(HOP_BY_HOP)
const HOP_BY_HOP_AND_LIMITS = new Set([...HOP_BY_HOP, ...Object.values(RATE_LIMIT_HEADERS)])

/**
 * The response fields passed on: every field but those in `drop`, those the upstream's Connection
 * names, and the identity namespace. One pass into a new object (undici's field names are lower case).
 */
function responseHeaders (headers: IncomingHttpHeaders, drop: ReadonlySet<string>): IncomingHttpHeaders {
  const named = connectionNamed(headers.connection)
  const out: IncomingHttpHeaders = {}
  for (const name of Object.keys(headers)) {
    if (drop.has(name) || isIdentityHeader(name) || (named !== null && named.includes(name))) continue
    out[name] = headers[name]
  }
  return out
}

/** `host[:port]` of an origin (`http://a:1` → `a:1`), remembered per origin string. */
const authorities = new Map<string, string>()
function authorityOf (origin: string): string {
  let host = authorities.get(origin)
  if (host === undefined) authorities.set(origin, host = new URL(origin).host)
  return host
}

export function forwardStage (opts: ForwardOptions = {}): FinalStage {
  const isTrusted = peerTrust(opts.trustedProxies)
  const maxBodySize = opts.maxBodySize ?? DEFAULT_MAX_BODY_SIZE
  const dispatcher = opts.dispatcher ?? getGlobalDispatcher()
  const isClosing = opts.isClosing ?? (() => false)
  return function forward (ctx: PipelineContext): FastifyReply {
    const route = ctx.route!
    const up = route.upstream
    const reply = ctx.reply
    const request = ctx.request
    // forwarded only while the answer can still reach the client: a request whose connection a
    // parser error (or the client) has closed meanwhile is never executed (src/http/connection.ts)
    if (!canStillAnswer(reply.raw)) {
      throw new GatewayError('bad_request', { headers: CLOSE, detail: 'connection closed before forwarding' })
    }
    const bodyLimit = route.bodyLimit ?? maxBodySize
    // before the upstream is contacted: an announced oversized body is refused here (SECURITY.md F17)
    const counter = limitBody(ctx, bodyLimit)
    // the raw query goes as sent, except that an access_token parameter never travels further
    // (RFC 6750 §5.3, RFC 9700 §4.3; SECURITY.md J61)
    const query = ctx.query === '' ? '' : queryHasAccessToken(ctx.query) ? withoutAccessToken(ctx.query) : ctx.query
    const headers = upstreamHeaders(ctx, request.headers, opts, isTrusted, authorityOf(up.origin))
    // tracing on: the upstream span starts here and its traceparent replaces the client's
    const trace = request.trace
    if (trace !== null) trace.upstream(up.name, request.method, headers as Record<string, unknown>)
    const body = request.body as Readable | undefined
    markForwarded(reply.raw)
    dispatcher.dispatch({
      origin: up.origin,
      path: up.basePath + ctx.path + (query === '' ? '' : `?${query}`),
      method: request.method as Dispatcher.HttpMethod,
      headers: headers as Record<string, string | string[]>,
      body: typeof body?.pipe === 'function' ? body : null,
      // the route's timeout runs in UpstreamResponse, on a native timer (forward-response.ts)
      headersTimeout: 0,
      bodyTimeout: 0
    }, new UpstreamResponse(reply, route, {
      fields: route.rateLimit === null ? stripResponseHopByHop : stripResponseHopByHopAndLimits,
      isClosing,
      counter,
      limit: bodyLimit
    }))
    return reply
  }
}
