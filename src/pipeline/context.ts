// What the stages share about one request. Each stage reads what the earlier ones decided
// and adds its own decision; nothing is recomputed downstream.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CompiledRoute } from '../config/route-types.js'

/** The verified caller, written only by the authenticate stage from a verified token. */
export interface Identity {
  subject: string
  /** `client` for client_credentials tokens (sub `client:<client_id>`), else `user` (RFC 9700 §4.15.1). */
  subjectType: 'user' | 'client'
  clientId: string
  scopes: readonly string[]
  tokenId: string
  /** Session (refresh-token family) the token came from; absent for client_credentials. */
  sessionId: string | undefined
  issuedAt: number // epoch seconds
  expiresAt: number // epoch seconds
  /** The store epoch the token was issued under (`sep`, SECURITY.md E02); undefined when it has none. */
  storeEpoch?: string | undefined
  /** RFC 9449 §6.1: thumbprint of the DPoP key the token is bound to (`cnf.jkt`); undefined for a bearer token. */
  dpopJkt?: string | undefined
}

export interface PipelineContext {
  readonly request: FastifyRequest
  readonly reply: FastifyReply
  /** Canonical path (see canonical-path.ts): matched, authorised and forwarded as is. */
  path: string
  /** Raw query string without `?` ('' when none). */
  query: string
  route: CompiledRoute | null
  params: Readonly<Record<string, string | undefined>>
  identity: Identity | null
  /** The stage running now (or that refused): for the decision log. */
  stage: string
}

/** A pipeline stage: throws GatewayError to refuse, returns to pass the request on. */
export type Stage = (ctx: PipelineContext) => void | Promise<void>

/** The last stage: hands the request to the upstream and owns the reply from then on. */
export type FinalStage = (ctx: PipelineContext) => FastifyReply

/** The route a request is counted under: the route-map id, else the gateway endpoint's own path. */
export function routeLabel (request: FastifyRequest): string | null {
  return request.pipeline?.route?.id ?? request.routeOptions.url ?? null
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the gateway route; read by the access log. */
    pipeline: PipelineContext | null
  }
}
