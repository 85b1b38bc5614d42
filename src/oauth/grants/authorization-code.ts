// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5-4.6): the code is read first and its bindings checked
// (client, redirect URI, verifier) without burning it, so a code presented by the wrong client or
// with a wrong verifier cannot be used to revoke its owner's tokens. Then it is consumed in one
// atomic step: a second use is a replay, and every token issued from the code is revoked through
// the session (`sid`) they all carry (RFC 6749 §4.1.2, RFC 9700 §4.5; SECURITY.md W01). The store
// keeps a used code for the lifetime of those tokens, so a replay after the code's 60 s still counts.
import { GatewayError } from '../../errors/gateway-error.js'
import { revocationVerdict } from '../../revocation/rule.js'
import { StoreUnavailableError, type AuthCodeRecord } from '../../store/types.js'
import { verifierMatches } from '../authorize/pkce.js'
import { hashCode, looksLikeCode } from '../authorize/response.js'
import { nowSeconds, type OAuthDeps } from '../deps.js'
import { issueRefreshToken } from '../refresh-tokens.js'
import { intersect } from '../scope.js'
import { familyBinding, type GrantHandler } from './types.js'

const invalidGrant = (detail: string): GatewayError => new GatewayError('invalid_grant', { detail })

export const authorizationCodeGrant: GrantHandler = async (input) => {
  const { deps, form, auth, request } = input
  const code = form.get('code')
  const redirectUri = form.get('redirect_uri')
  const verifier = form.get('code_verifier')
  // RFC 6749 §4.1.3: code and redirect_uri (it was in the authorization request) are REQUIRED
  if (code === undefined || redirectUri === undefined) throw new GatewayError('invalid_request', { description: 'code and redirect_uri are required' })
  if (!looksLikeCode(code)) throw invalidGrant('not an authorization code')
  const hash = hashCode(code)
  // a used code is kept (and read here) as long as its tokens live: its expiry is checked after the replay check
  const record = await deps.store.codes.get(hash)
  if (record === null) throw invalidGrant('unknown or expired code')
  // RFC 6749 §4.1.3: issued to this client, for this exact redirect URI
  if (record.clientId !== auth.client.id) throw invalidGrant('code of another client')
  if (record.redirectUri !== redirectUri) throw invalidGrant('redirect_uri differs from the authorization request')
  if (record.codeChallenge === null) {
    // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a PKCE downgrade
    if (verifier !== undefined) throw invalidGrant('code_verifier without a code_challenge')
  } else if (verifier === undefined || !verifierMatches(verifier, record.codeChallenge)) {
    // RFC 7636 §4.6: the verifier must match the challenge
    throw invalidGrant(verifier === undefined ? 'code_verifier missing' : 'code_verifier does not match')
  }

  // SECURITY.md W01: the first use keeps the used code for as long as the tokens it issues can live
  const tokensLive = Math.max(deps.config.ACCESS_TOKEN_TTL, deps.config.REFRESH_TOKEN_TTL) + deps.config.CLOCK_SKEW
  const consumed = await deps.store.codes.consume(hash, tokensLive)
  if (consumed.status === 'unknown') throw invalidGrant('code expired')
  if (consumed.status === 'reused') {
    // RFC 6749 §4.1.2: a code used twice, however late: revoke every token issued from it (access and refresh, by sid)
    await deps.store.revokeSession(record.sid, nowSeconds(deps) + tokensLive)
    request.log.warn({ reason: 'code_reused', sid: record.sid, sub: record.sub, client_id: auth.client.id }, 'authorization code replayed: its tokens revoked')
    throw invalidGrant('code reused; tokens issued from it revoked')
  }
  // RFC 6749 §4.1.2: at most 60 s (the store drops an unused code then; this is the grant's own clock)
  if (record.expiresAt <= nowSeconds(deps)) throw invalidGrant('code expired')

  const user = await deps.store.getUser(record.sub)
  await assertUserAlive(deps, record, user?.disabled ?? true)
  const scope = intersect(record.scope, intersect(user!.scopes, auth.client.scopes)) // today's entitlements
  if (!auth.client.grants.includes('refresh_token')) return { sub: record.sub, scope, sid: record.sid }
  const issuedAt = nowSeconds(deps)
  const refreshToken = await issueRefreshToken(deps.store, {
    sid: record.sid, sub: record.sub, clientId: auth.client.id, scope, issuedAt, expiresAt: issuedAt + deps.config.REFRESH_TOKEN_TTL,
    ...familyBinding(input) // RFC 9449 §5: a public client's family is bound to its DPoP key
  })
  return { sub: record.sub, scope, sid: record.sid, refreshToken, familyExpiresAt: issuedAt + deps.config.REFRESH_TOKEN_TTL }
}

/** The user still exists, is enabled, and was not revoked since the code was issued (the one revocation rule). */
async function assertUserAlive (deps: OAuthDeps, record: AuthCodeRecord, disabledOrGone: boolean): Promise<void> {
  if (disabledOrGone) throw invalidGrant('user gone or disabled')
  const state = await deps.store.checkRevocation({ jti: `code:${record.sid}`, sid: record.sid, sub: record.sub, clientId: record.clientId })
  const verdict = revocationVerdict({ user: true, issuedAt: record.issuedAt, epoch: deps.store.epoch.current ?? undefined }, deps.store.epoch.current, state)
  if (verdict.kind === 'unknown') throw new StoreUnavailableError(verdict.reason)
  if (verdict.kind === 'refused') throw invalidGrant(verdict.reason)
}
