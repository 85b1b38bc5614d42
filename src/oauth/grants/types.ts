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
}

/** What the token endpoint turns into an access token (and a response). */
export interface GrantOutcome {
  sub: string
  scope: string[]
  /** Session id: the `sid` claim; absent for client_credentials. */
  sid?: string
  refreshToken?: string
}

export type GrantHandler = (input: GrantInput) => Promise<GrantOutcome>
