// POST /oauth/token (RFC 6749 §3.2): validate the request, authenticate the client, run the grant,
// sign the access token, answer per §5.1. Errors are GatewayErrors answered per §5.2 by the shared
// handler; plugin.ts adds Cache-Control: no-store and Pragma: no-cache to every response.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ERRORS } from '../errors/codes.js'
import { GatewayError } from '../errors/gateway-error.js'
import { toGatewayError } from '../errors/handler.js'
import { StoreUnavailableError } from '../store/types.js'
import { authenticateClient } from './client-auth.js'
import { nowSeconds, type OAuthDeps } from './deps.js'
import { formOf } from './form.js'
import { authorizationCodeGrant } from './grants/authorization-code.js'
import { clientCredentialsGrant } from './grants/client-credentials.js'
import { passwordGrant } from './grants/password.js'
import { refreshTokenGrant } from './grants/refresh-token.js'
import type { GrantHandler, GrantOutcome } from './grants/types.js'
import { tokenRequestProof } from './dpop-token.js'
import { newJti, signAccessToken, type AccessTokenClaims } from './jwt.js'
import { recordSessionUse } from './sessions.js'

/** Grant types by their exact (case-sensitive) RFC 6749 names. */
export const GRANT_HANDLERS: ReadonlyMap<string, GrantHandler> = new Map([
  ['password', passwordGrant],
  ['client_credentials', clientCredentialsGrant],
  ['refresh_token', refreshTokenGrant],
  ['authorization_code', authorizationCodeGrant]
])

export interface TokenResponse {
  access_token: string
  /** RFC 9449 §5: DPoP when the access token is bound to the proof's key. */
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  scope: string
  refresh_token?: string
}

/** Counts token requests (metrics): `grant` one of GRANT_HANDLERS' names or `unknown`; `outcome` `issued` or the RFC 6749 §5.2 error. */
export interface TokenObserver {
  tokenRequest(grant: string, outcome: string): void
}

export function tokenEndpoint (deps: OAuthDeps, observer: TokenObserver | null = null) {
  const token = tokenRequest(deps)
  if (observer === null) return token
  return async function observedToken (request: FastifyRequest, reply: FastifyReply): Promise<TokenResponse> {
    try {
      const body = await token(request, reply)
      observer.tokenRequest(grantLabel(request), 'issued')
      return body
    } catch (err) {
      // the public error value only: a bounded set of label values
      observer.tokenRequest(grantLabel(request), ERRORS[toGatewayError(err).code].error)
      throw err
    }
  }
}

/** The grant_type as a metric label: an unsupported or missing one is `unknown` (bounded cardinality). */
function grantLabel (request: FastifyRequest): string {
  let grant: string | undefined
  try { grant = formOf(request).get('grant_type') } catch { grant = undefined }
  return grant !== undefined && GRANT_HANDLERS.has(grant) ? grant : 'unknown'
}

function tokenRequest (deps: OAuthDeps) {
  return async function token (request: FastifyRequest, reply: FastifyReply): Promise<TokenResponse> {
    const form = formOf(request)
    const grantType = form.get('grant_type')
    // RFC 6749 §5.2 invalid_request: missing parameter
    if (grantType === undefined) throw new GatewayError('invalid_request', { description: 'grant_type is required' })
    const grant = GRANT_HANDLERS.get(grantType)
    // RFC 6749 §5.2 unsupported_grant_type
    if (grant === undefined) throw new GatewayError('unsupported_grant_type')

    const auth = await authenticateClient(request, form, deps.store, { allowPublic: true })
    // RFC 6749 §5.2 unauthorized_client: not authorized to use this grant type
    if (!auth.client.grants.includes(grantType)) throw new GatewayError('unauthorized_client')

    // SECURITY.md E02: no confirmed store epoch, no token; refused before any grant work, so a
    // refresh never rotates a token it then cannot issue (503)
    if (deps.store.epoch.current === null && await deps.store.epoch.verify() === null) throw new StoreUnavailableError('store epoch unconfirmed')
    // RFC 9449 §5: a valid proof binds the tokens to its key; `--dpop required` clients must send one
    const dpopJkt = await tokenRequestProof(request, reply, deps.dpop, auth.client)
    const outcome = await grant({ deps, form, auth, request, dpopJkt })
    const body = respond(deps, auth.client.id, outcome, dpopJkt)
    // README "Sessions": each refresh family is one session, with its last use
    if (outcome.refreshToken !== undefined && outcome.sid !== undefined) {
      const now = nowSeconds(deps)
      await recordSessionUse(deps.store, request, { sid: outcome.sid, sub: outcome.sub, clientId: auth.client.id, now, expiresAt: outcome.familyExpiresAt ?? now + deps.config.REFRESH_TOKEN_TTL })
    }
    request.log.info({ reason: 'token_issued', grant_type: grantType, sub: outcome.sub, client_id: auth.client.id, sid: outcome.sid }, 'token issued')
    reply.type('application/json; charset=utf-8')
    return body
  }
}

/** RFC 6749 §5.1 success body, with an RFC 9068 access token. */
function respond (deps: OAuthDeps, clientId: string, outcome: GrantOutcome, dpopJkt: string | undefined): TokenResponse {
  const { config } = deps
  const iat = nowSeconds(deps)
  // SECURITY.md E02: every token names the store epoch it was issued under; none confirmed, none issued (503)
  const sep = deps.store.epoch.current
  if (sep === null) throw new StoreUnavailableError('store epoch unconfirmed')
  const claims: AccessTokenClaims = {
    iss: config.issuer,
    sub: outcome.sub,
    aud: config.AUDIENCE,
    exp: iat + config.ACCESS_TOKEN_TTL,
    iat,
    jti: newJti(),
    client_id: clientId,
    scope: outcome.scope.join(' '),
    ...(outcome.sid !== undefined && { sid: outcome.sid }),
    sep,
    // RFC 9449 §6.1: the confirmation claim binds the token to the proof's key
    ...(dpopJkt !== undefined && { cnf: { jkt: dpopJkt } })
  }
  const body: TokenResponse = {
    access_token: signAccessToken(deps.keys, claims),
    token_type: dpopJkt === undefined ? 'Bearer' : 'DPoP',
    expires_in: config.ACCESS_TOKEN_TTL,
    scope: claims.scope ?? ''
  }
  if (outcome.refreshToken !== undefined) body.refresh_token = outcome.refreshToken
  return body
}
