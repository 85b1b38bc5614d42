// Builds the Fastify app: explicit, ordered registration. The gateway's own endpoints first
// (health, OAuth), then the catch-all pipeline that forwards everything the route map matches.
import { randomUUID } from 'node:crypto'
import { STATUS_CODES, type IncomingMessage, type ServerOptions, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import Fastify, { LogController, type ConnectionError, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { Logger } from 'pino'
import type { GatewayMetrics } from './admin/metrics.js'
import { instrumentApp } from './admin/instrument.js'
import { parseTrustProxy, type Config } from './config/env.js'
import { ERRORS, type ErrorCode } from './errors/codes.js'
import { HTTP_METHODS } from './config/route-types.js'
import { registerErrorHandler, sendError, toGatewayError } from './errors/handler.js'
import { healthPlugin } from './health.js'
import { requestLoggerFactory } from './logging.js'
import { awaitTurn, mayHaveRun } from './http/connection.js'
import { checkFraming } from './http/framing.js'
import { gatewayPlugin } from './pipeline/index.js'
import { routeLabel } from './pipeline/context.js'
import { createTracing, traceRequests } from './observability/tracing.js'
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
  /** Prometheus metrics (ADMIN_PORT ≠ 0); null or absent: nothing is measured, no hook is added. */
  metrics?: GatewayMetrics | null
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
  // like Node's own handler: never a second status line on a socket whose response has begun;
  // and never "failed" for a request already handed to an upstream (src/http/connection.ts)
  const inFlight = (socket as { _httpMessage?: ServerResponse })._httpMessage
  if (socket.writable && inFlight?.headersSent !== true && (inFlight === undefined || !mayHaveRun(inFlight))) {
    const body = JSON.stringify({ error, error_description: description })
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]!}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/**
 * RFC 9110 §9.3.6: the gateway is no tunnel. CONNECT gets 405 with the methods routes can have in
 * Allow (RFC 9110 §15.5.6: a 405 MUST carry Allow), and the connection is closed (SECURITY.md P26).
 */
function answerConnect (this: FastifyInstance, _req: IncomingMessage, socket: Duplex): void {
  const { status, error, description } = ERRORS.method_not_allowed
  this.log.info({ reason: 'method_not_allowed', outcome: 'refused', stage: null, method: 'CONNECT' }, 'request refused')
  const body = JSON.stringify({ error, error_description: description })
  socket.on('error', () => {})
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]!}\r\nAllow: ${HTTP_METHODS.join(', ')}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}

/** Requests whose access line is written: one line per request, whichever event comes first. */
const accessLogged = new WeakSet<FastifyRequest>()

/**
 * The access-log line: method, path without query, route, identity, status, latency. Written when
 * the response has been sent (onResponse) or, failing that, when its connection closed (aborted).
 */
function accessLog (log: Logger, request: FastifyRequest, reply: FastifyReply, aborted: boolean): void {
  if (accessLogged.has(request)) return
  accessLogged.add(request)
  // reqId first: the line a request's child logger would write
  log.info({
    reqId: request.id,
    method: request.method,
    path: request.pipeline?.path ?? request.url.split('?', 1)[0],
    route: routeLabel(request),
    subject: request.pipeline?.identity?.subject ?? null,
    client: request.pipeline?.identity?.clientId ?? null,
    status: aborted ? null : reply.statusCode,
    ms: Math.round(reply.elapsedTime * 100) / 100,
    ...(request.trace !== null && { trace_id: request.trace.traceId }),
    ...(aborted ? { aborted: true } : {})
  }, aborted ? 'request aborted' : 'request')
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
    // a request's pino child logger is made only when something is logged through it (src/logging.ts)
    ...(opts.logger !== false && { childLoggerFactory: requestLoggerFactory as unknown as NonNullable<FastifyServerOptions['childLoggerFactory']> }),
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
  // CONNECT never reaches a route (Node hands it to 'connect' listeners, or closes the socket)
  app.server.on('connect', answerConnect.bind(app))

  app.decorateRequest('pipeline', null)
  app.decorateRequest('trace', null)
  registerErrorHandler(app)
  // OTEL_EXPORTER_OTLP_ENDPOINT unset: null, and the SDK is never loaded (README "Tracing")
  const tracing = await createTracing(config, app.log)
  app.decorate('tracing', tracing)
  if (tracing !== null) traceRequests(app, tracing)

  // callback hooks, not async ones: no promise per request on the hot path
  app.addHook('onSend', (request, reply, _payload, done) => {
    reply.header('x-request-id', request.id)
    // draining: a request that was in flight when shutdown began closes its keep-alive socket,
    // so the server can finish closing instead of waiting for the client's idle timeout
    if (closing) reply.header('connection', 'close')
    done()
  })
  // one access-log line per request: id, route, status, latency (never the query string); a request
  // whose connection closed before its response finished gets the same line, marked aborted. Below
  // LOG_LEVEL=info no line is written, and neither hook is registered.
  // The line holds only fields built here (no header, query or body): pino's redaction (REDACT_PATHS)
  // can match none of them, and it cost several times the rest of the line, so this logger has none.
  const accessLogger = opts.logger !== false && opts.logger.isLevelEnabled('info') ? opts.logger.child({}, { redact: [] }) : null
  if (accessLogger !== null) app.addHook('onResponse', (request, reply, done) => { accessLog(accessLogger, request, reply, false); done() })
  app.addHook('preClose', async () => { closing = true })
  // Before any route runs (the gateway's own endpoints too). Async on purpose: the rest of the
  // request runs after the parser has finished the bytes it arrived with, so a parser error on
  // them (clientErrorHandler) is seen before any stage runs (src/http/connection.ts).
  app.addHook('onRequest', async (request, reply) => {
    // every request gets its access line: one whose connection closes first (client gone, parser
    // error behind it) is logged when that happens, marked aborted (never silently forwarded)
    if (accessLogger !== null) reply.raw.once('close', () => { accessLog(accessLogger, request, reply, true) })
    // framing the HTTP parser lets through: 400 and the connection closed (src/http/framing.ts)
    checkFraming(request.raw)
    // a pipelined request waits for its turn; one whose connection is gone is never run
    const turn = awaitTurn(request.raw, reply.raw)
    if (turn !== undefined) await turn
  })

  const metrics = opts.metrics ?? null
  if (metrics !== null) {
    instrumentApp(app, metrics)
    metrics.watch(store, routes)
    app.addHook('onClose', async () => { metrics.close() })
  }

  const epochChangeHoldMs = (config.ACCESS_TOKEN_TTL + config.CLOCK_SKEW) * 1000
  await app.register(healthPlugin, { store, routes, keys, isClosing: () => closing, epochChangeHoldMs })
  // the consent page reads the current route map's `scopes` section (hot-reloaded like the routes)
  await app.register(oauthPlugin, { config, store, keys, observer: metrics, scopeDescriptions: () => routes.current().scopeDescriptions ?? new Map() })
  await app.register(gatewayPlugin, { routes, config, store, keys, observer: metrics, isClosing: () => closing })
  return app
}
