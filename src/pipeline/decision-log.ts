// The one shape of a refusal in the log (STYLE.md §10; oathkeeper-style stable reasons): written
// once, by the error handler, for every refusal of every stage. Never a token, never the
// Authorization header, never the query string: only ids the gateway itself decided on.
import type { FastifyRequest } from 'fastify'
import type { GatewayError } from '../errors/gateway-error.js'

export interface DecisionLog {
  /** Stable reason id: the ErrorCode (`token_missing`, `token_expired`, `revoked`, `scope_missing` ...). */
  reason: string
  outcome: 'refused'
  stage: string | null
  route: string | null
  subject: string | null
  client: string | null
  /** A fixed, non-secret detail (e.g. the AccessTokenError reason `bad_signature`). */
  detail: string | undefined
}

export function refusalLog (request: FastifyRequest, ge: GatewayError): DecisionLog {
  const ctx = request.pipeline
  return {
    reason: ge.code,
    outcome: 'refused',
    stage: ctx?.stage ?? null,
    route: ctx?.route?.id ?? null,
    subject: ctx?.identity?.subject ?? null,
    client: ctx?.identity?.clientId ?? null,
    detail: ge.detail
  }
}
