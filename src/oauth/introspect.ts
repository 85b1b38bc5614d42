// POST /oauth/introspect (RFC 7662). Only confidential clients may ask (§2.1: MUST require
// authorization, against token scanning; a public client_id proves nothing), and a client learns only
// about its own tokens, unless an operator allowed it to introspect every client's tokens
// (`clients add ID --introspect`, a resource server): revoked, expired, unknown and foreign tokens all answer exactly
// {"active":false} (§2.2). Refresh tokens are reported inactive: the store cannot tell a rotated
// (consumed) refresh token from a live one without consuming it, and "active" must never be a guess.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../errors/gateway-error.js'
import { isUserSubject, revocationVerdict } from '../revocation/rule.js'
import { StoreUnavailableError } from '../store/types.js'
import { authenticateClient } from './client-auth.js'
import type { OAuthDeps } from './deps.js'
import { formOf } from './form.js'
import { AccessTokenError, verifyAccessToken, type AccessTokenClaims } from './jwt.js'

const INACTIVE = Object.freeze({ active: false as const })

export function introspectEndpoint (deps: OAuthDeps) {
  return async function introspect (request: FastifyRequest, reply: FastifyReply): Promise<object> {
    const form = formOf(request)
    const { client } = await authenticateClient(request, form, deps.store, { allowPublic: false })
    const token = form.get('token')
    // RFC 7662 §2.1: token is REQUIRED
    if (token === undefined) throw new GatewayError('invalid_request', { description: 'token is required' })
    reply.type('application/json; charset=utf-8')

    let claims: AccessTokenClaims
    try {
      claims = await verifyAccessToken(deps.keys, token, {
        issuer: deps.config.issuer, audience: deps.config.AUDIENCE, clockSkew: deps.config.CLOCK_SKEW, now: deps.now
      })
    } catch (err) {
      if (err instanceof AccessTokenError) return INACTIVE
      throw err
    }
    // RFC 7662 §2.1 / SECURITY.md T64: another client's token only for a client given `--introspect`
    if (claims.client_id !== client.id && client.introspect !== true) return INACTIVE
    const state = await deps.store.checkRevocation({ jti: claims.jti, sid: claims.sid, sub: claims.sub, clientId: claims.client_id })
    // the one revocation rule (src/revocation/rule.ts), store epoch included (SECURITY.md E02)
    const verdict = revocationVerdict({ user: isUserSubject(claims.sub, claims.client_id), issuedAt: claims.iat, epoch: claims.sep }, deps.store.epoch.current, state)
    // cannot be judged now: 503, never a guess either way
    if (verdict.kind === 'unknown') throw new StoreUnavailableError(verdict.reason)
    if (verdict.kind === 'refused') return INACTIVE
    // RFC 7662 §2.2 members
    return {
      active: true,
      scope: claims.scope ?? '',
      client_id: claims.client_id,
      // RFC 9449 §6.2: a DPoP-bound token is introspected with its type and confirmation
      token_type: claims.cnf === undefined ? 'Bearer' : 'DPoP',
      exp: claims.exp,
      iat: claims.iat,
      sub: claims.sub,
      aud: claims.aud,
      iss: claims.iss,
      jti: claims.jti,
      ...(claims.sid !== undefined && { sid: claims.sid }),
      ...(claims.cnf !== undefined && { cnf: { jkt: claims.cnf.jkt } })
    }
  }
}
