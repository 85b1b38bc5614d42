// The one shape of a refusal in the log (STYLE.md §10; oathkeeper-style stable reasons): written
// once, by the error handler, for every refusal of every stage. And the one shape of a line of the
// decision log file (DECISION_LOG, decision-file.ts), allowed or refused, written by the pipeline.
// Never a token, never the Authorization header, never the query string: only ids the gateway
// itself decided on.
import type { FastifyRequest } from 'fastify'
import type { AuthMode } from '../config/route-types.js'
import type { GatewayError } from '../errors/gateway-error.js'
import type { PipelineContext } from './context.js'

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

/**
 * One line of the decision log file (DECISION_LOG): what the edge decided about one proxied request,
 * allowed or refused, with what `routes replay` needs to decide it again under another route map.
 * Only ids and names the gateway decided on: never a token, never a header value, never the query.
 */
export interface DecisionRecord {
  /** ISO 8601, UTC. */
  time: string
  /** The matched route's id (`GET,HEAD /orders/*`); null when no route matched. */
  route: string | null
  method: string
  /** The canonical path (canonical-path.ts); null when the target was refused as ambiguous. */
  path: string | null
  subject: string | null
  client: string | null
  /** The verified token's scopes; null without a verified token. */
  scopes: readonly string[] | null
  /** The matched route's `auth` mode; null when no route matched. */
  auth: AuthMode | null
  decision: 'allow' | 'refuse'
  /** `allowed`, or the refusal's stable reason id (src/errors/codes.ts). */
  reason: string
  /** The stage that refused; null when allowed. */
  stage: string | null
}

export const ALLOWED = 'allowed'

/** The record of a request that passed every stage, written right before it is forwarded. */
export function allowRecord (ctx: PipelineContext): DecisionRecord {
  return record(ctx, 'allow', ALLOWED, null)
}

/** The record of a request a stage refused with `reason`. */
export function refusalRecord (ctx: PipelineContext, reason: string): DecisionRecord {
  return record(ctx, 'refuse', reason, ctx.stage)
}

function record (ctx: PipelineContext, decision: 'allow' | 'refuse', reason: string, stage: string | null): DecisionRecord {
  const identity = ctx.identity
  const route = ctx.route
  return {
    time: new Date().toISOString(),
    route: route?.id ?? null,
    method: ctx.request.raw.method ?? '',
    path: ctx.path === '' ? null : ctx.path,
    subject: identity?.subject ?? null,
    client: identity?.clientId ?? null,
    scopes: identity?.scopes ?? null,
    auth: route?.auth ?? null,
    decision,
    reason,
    stage
  }
}
