// POST /oauth/revoke (RFC 7009). A refresh token revokes its whole session (family) and, through
// `sid`, every access token of it (§2.1 SHOULD); an access token is refused until it would have
// expired. Unknown, malformed, expired or already revoked tokens get 200 (§2.2), and so does a token
// of another client: it is left alone (§2.1 "the token was issued to the client making the request"),
// and the answer does not tell a foreign token from an unknown one. token_type_hint is ignored:
// our two token formats cannot be confused, so every token is found whatever the hint says (§2.1).
import type { FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../errors/gateway-error.js'
import { authenticateClient } from './client-auth.js'
import { nowSeconds, type OAuthDeps } from './deps.js'
import { formOf } from './form.js'
import { AccessTokenError, verifyAccessToken } from './jwt.js'
import { hashRefreshToken, looksLikeRefreshToken, sessionRevocationExpiry } from './refresh-tokens.js'

export function revokeEndpoint (deps: OAuthDeps) {
  return async function revoke (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const form = formOf(request)
    // RFC 7009 §2.1: confidential clients authenticate; a public client identifies itself (issue 3 point 6)
    const { client } = await authenticateClient(request, form, deps.store, { allowPublic: true })
    const token = form.get('token')
    // RFC 7009 §2.1: token is REQUIRED
    if (token === undefined) throw new GatewayError('invalid_request', { description: 'token is required' })

    const outcome = looksLikeRefreshToken(token)
      ? await revokeRefreshToken(deps, token, client.id)
      : await revokeAccessToken(deps, token, client.id)
    request.log.info({ reason: outcome, client_id: client.id }, 'revocation request')
    await reply.code(200).send()
  }
}

async function revokeRefreshToken (deps: OAuthDeps, token: string, clientId: string): Promise<string> {
  const record = await deps.store.getRefreshToken(hashRefreshToken(token))
  if (record === null) return 'revoke_unknown_token'
  if (record.clientId !== clientId) return 'revoke_foreign_token'
  await deps.store.revokeSession(record.sid, sessionRevocationExpiry(record, nowSeconds(deps), deps.config.ACCESS_TOKEN_TTL, deps.config.CLOCK_SKEW))
  return 'revoked_session'
}

async function revokeAccessToken (deps: OAuthDeps, token: string, clientId: string): Promise<string> {
  let claims
  try {
    claims = await verifyAccessToken(deps.keys, token, {
      issuer: deps.config.issuer, audience: deps.config.AUDIENCE, clockSkew: deps.config.CLOCK_SKEW, now: deps.now
    })
  } catch (err) {
    if (err instanceof AccessTokenError) return 'revoke_unknown_token' // invalid or expired: nothing left to refuse
    throw err
  }
  if (claims.client_id !== clientId) return 'revoke_foreign_token'
  // Refused at the edge until exp (+ the skew the edge accepts past exp).
  await deps.store.revokeToken(claims.jti, claims.exp + deps.config.CLOCK_SKEW)
  return 'revoked_access_token'
}
