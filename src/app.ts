// Builds the Fastify app: explicit, ordered registration. The gateway's own endpoints first
// (health, OAuth), then the catch-all pipeline that forwards everything the route map matches.
import { randomUUID } from 'node:crypto'
import { STATUS_CODES, type ServerOptions } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController, type ConnectionError, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Logger } from 'pino'
import { parseTrustProxy, type Config } from './config/env.js'
import { ERRORS, type ErrorCode } from './errors/codes.js'
import { GatewayError } from './errors/gateway-error.js'
import { registerErrorHandler, sendError, toGatewayError } from './errors/handler.js'
import { healthPlugin } from './health.js'
import { gatewayPlugin } from './pipeline/index.js'
import type { RouteSource } from './pipeline/match.js'
import type { KeyRing } from './oauth/keys.js'
import { oauthPlugin } from './oauth/plugin.js'
import type { Store } from './store/types.js'

export interface AppOptions {
  config: Readonly<Config>
  store: Store
  routes: RouteSource
  /** The shared signing/verification key set. */
  keys: KeyRing
  /** A pino logger, or false for none (tests). */
  logger: Logger | false
}

/** Idle keep-alive sockets: longer than the 60 s idle timeout of common load balancers, so one in front never reuses a socket being closed. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000

/** Answers of clientErrorHandler, by Node error code: status, `error`, `error_description`. */
const CLIENT_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'header_too_large', // SECURITY.md J35
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout' // SECURITY.md F16
}

/**
 * Node refuses some requests before Fastify sees them: a head over MAX_HEADER_SIZE (431), headers or a
 * whole request not received within HEADERS_TIMEOUT / REQUEST_TIMEOUT (408), bad framing (400). They get
 * the same JSON body shape as every other refusal, then the connection is closed.
 */
function clientErrorHandler (this: FastifyInstance, err: ConnectionError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const { status, error, description } = ERRORS[CLIENT_ERRORS[err.code] ?? 'bad_request']
  this.log.debug({ reason: error, code: err.code }, 'client error')
  // like Node's own handler: never a second status line on a socket whose response has begun
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && inFlight?.headersSent !== true) {
    const body = JSON.stringify({ error, error_description: description })
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]!}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** A client's x-request-id is kept when well-formed, otherwise a fresh one is generated. */
const REQUEST_ID = /^[A-Za-z0-9._:@+=/-]{1,128}$/

export async function buildApp (opts: AppOptions): Promise<FastifyInstance> {
  const { config, store, routes, keys } = opts
  let closing = false

  // input limits (README "Limits"); Node checks the timeouts every connectionsCheckingInterval
  const http: ServerOptions = {
    maxHeaderSize: config.MAX_HEADER_SIZE, // SECURITY.md J35: 431
    headersTimeout: config.HEADERS_TIMEOUT * 1000, // F16: slowloris
    requestTimeout: config.REQUEST_TIMEOUT * 1000,
    connectionsCheckingInterval: Math.min(Math.max(config.HEADERS_TIMEOUT * 250, 250), 5000)
  }
  const options: FastifyServerOptions & { http: ServerOptions } = {
    http,
    requestTimeout: config.REQUEST_TIMEOUT * 1000, // Fastify sets it on the server again: same value
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    clientErrorHandler,
    // our own access-log line (onResponse below) replaces Fastify's two per request
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (req) => {
      const id = req.headers['x-request-id']
      return typeof id === 'string' && REQUEST_ID.test(id) ? id : randomUUID()
    },
    // H08/H09: the edge trusts no X-Forwarded-For unless the peer is a listed proxy
    trustProxy: parseTrustProxy(config.TRUST_PROXY),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    bodyLimit: 1024 * 1024,
    // the router's own 400s (bad URL encoding, bad content type) get our JSON bodies too
    frameworkErrors: (error, _request, reply) => { void sendError(reply, toGatewayError(error)) }
  }
  const app: FastifyInstance = opts.logger === false
    ? Fastify({ ...options, logger: false })
    : Fastify({ ...options, loggerInstance: opts.logger as unknown as FastifyBaseLogger })

  // more connections than this are closed as soon as they are accepted
  app.server.maxConnections = config.MAX_CONNECTIONS

  app.decorateRequest('pipeline', null)
  registerErrorHandler(app)

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
    // draining: a request that was in flight when shutdown began closes its keep-alive socket,
    // so the server can finish closing instead of waiting for the client's idle timeout
    if (closing) reply.header('connection', 'close')
  })
  // one access-log line per request: id, route, status, latency (never the query string)
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({
      method: request.method,
      path: request.pipeline?.path ?? request.url.split('?', 1)[0],
      route: request.pipeline?.route?.id ?? request.routeOptions.url ?? null,
      subject: request.pipeline?.identity?.subject ?? null,
      client: request.pipeline?.identity?.clientId ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100
    }, 'request')
  })
  app.addHook('preClose', async () => { closing = true })
  // framing the HTTP parser lets through, refused for every route (the gateway's own endpoints too)
  app.addHook('onRequest', async (request) => {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing; refuse and close (SECURITY.md S02)
    if (request.raw.httpVersion === '1.0' && request.raw.headers['transfer-encoding'] !== undefined) {
      throw new GatewayError('bad_request', { headers: { connection: 'close' }, detail: 'transfer-encoding in HTTP/1.0' })
    }
    // RFC 9112 §3.2: a request with more than one Host field MUST get 400 (SECURITY.md P19)
    const raw = request.raw.rawHeaders
    let hosts = 0
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++
    }
    if (hosts > 1) throw new GatewayError('bad_request', { description: 'More than one Host header', detail: 'duplicate Host' })
  })

  const epochChangeHoldMs = (config.ACCESS_TOKEN_TTL + config.CLOCK_SKEW) * 1000
  await app.register(healthPlugin, { store, routes, keys, isClosing: () => closing, epochChangeHoldMs })
  await app.register(oauthPlugin, { config, store, keys })
  await app.register(gatewayPlugin, { routes, config, store, keys })
  return app
}
