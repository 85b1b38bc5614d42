// The one place errors become responses. Library errors are mapped to our codes here;
// a raw library error never reaches a client. Anything 5xx is a generic `server_error`.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from './gateway-error.js'
import type { ErrorCode } from './codes.js'
import { refusalLog } from '../pipeline/decision-log.js'
import { StoreUnavailableError } from '../store/types.js'

/** Fastify's own client errors, by code, mapped to ours. */
const FASTIFY_CLIENT_ERRORS: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
  FST_ERR_BAD_URL: 'bad_path',
  FST_ERR_VALIDATION: 'bad_request'
}

/** Converts anything thrown into a GatewayError. */
export function toGatewayError (err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  // a store failure that escaped its endpoint's own guard is still a 503, never a 500 (SECURITY.md F01/F02)
  if (err instanceof StoreUnavailableError) return new GatewayError('store_unavailable', { cause: err, detail: err.message, headers: { 'retry-after': '1' } })
  const fe = err as Partial<FastifyError> | undefined
  const mapped = fe?.code !== undefined ? FASTIFY_CLIENT_ERRORS[fe.code] : undefined
  // a target the router cannot decode is a framing refusal like bad_path: the connection ends (RFC 9112 §9.6)
  if (mapped === 'bad_path') return new GatewayError(mapped, { cause: err, detail: fe?.message, headers: { connection: 'close' } })
  if (mapped !== undefined) return new GatewayError(mapped, { cause: err, detail: fe?.message })
  if (fe?.validation !== undefined) return new GatewayError('bad_request', { cause: err, detail: fe.message })
  const status = fe?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 413) return new GatewayError('payload_too_large', { cause: err })
    if (status === 415) return new GatewayError('unsupported_media_type', { cause: err })
    return new GatewayError('bad_request', { cause: err, detail: fe?.message })
  }
  return new GatewayError('server_error', { cause: err, detail: fe?.message })
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The reason id of the refusal sent for this request (null: none); read by tracing and metrics. */
    refusal: ErrorCode | null
  }
}

export function sendError (reply: FastifyReply, err: GatewayError): FastifyReply {
  reply.request.refusal = err.code
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v)
  return reply.code(err.status).type('application/json; charset=utf-8').send(err.body())
}

/** The error code a reply was refused with, or undefined when it was not a refusal (metrics read it). */
export function refusalOf (reply: FastifyReply): ErrorCode | undefined {
  return reply.request.refusal ?? undefined
}

export function registerErrorHandler (app: FastifyInstance): void {
  app.decorateRequest('refusal', null)
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const ge = toGatewayError(error)
    // one line per refusal, one shape for every stage (src/pipeline/decision-log.ts)
    if (ge.code === 'server_error') {
      request.log.error({ err: error, ...refusalLog(request, ge) }, 'request failed')
    } else if (ge.status >= 500) {
      // a dependency condition (store down, shutting down): one line, no stack trace per request
      const cause = (ge.cause as Error | undefined)?.message
      request.log.warn({ ...refusalLog(request, ge), cause }, 'request failed')
    } else {
      request.log.info(refusalLog(request, ge), 'request refused')
    }
    return sendError(reply, ge)
  })
  app.setNotFoundHandler((_request, reply) => sendError(reply, new GatewayError('route_not_found')))
}
