// The shape every grant handler shares (one file per grant type, RFC 6749 §4.3, §4.4, §6).
import type { FastifyRequest } from 'fastify'
import type { AuthenticatedClient } from '../client-auth.js'
import type { OAuthDeps } from '../deps.js'
import type { FormParams } from '../form.js'

export interface GrantInput {
  deps: OAuthDeps
  form: FormParams
  auth: AuthenticatedClient
  request: FastifyRequest
  /** RFC 9449: thumbprint of the request's proven DPoP key (dpop-token.ts); undefined without a proof. */
  dpopJkt?: string | undefined
}

/** What the token endpoint turns into an access token (and a response). */
export interface GrantOutcome {
  sub: string
  scope: string[]
  /** Session id: the `sid` claim; absent for client_credentials. */
  sid?: string
  refreshToken?: string
  /** Epoch seconds: when the refresh family ends (its session record lives until then). */
  familyExpiresAt?: number
}

/** RFC 9449 §5: a public client's refresh-token family is bound to the DPoP key of its proof. */
export function familyBinding (input: GrantInput): { jkt?: string } {
  return input.auth.client.secretHash === null && input.dpopJkt !== undefined ? { jkt: input.dpopJkt } : {}
}

export type GrantHandler = (input: GrantInput) => Promise<GrantOutcome>
