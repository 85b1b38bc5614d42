// RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2): every refresh consumes the token
// and stores its successor of the same family in one atomic step; presenting a consumed token again revokes the
// whole family (its refresh tokens and, through `sid`, its access tokens) and answers invalid_grant.
// Two refinements (issue 12): a family bound to a DPoP key (RFC 9449 §5) is refreshed only with a
// proof of that key; and a retry of the token just rotated, by the same key within REFRESH_GRACE
// seconds while its successor is unused, gets that same successor (a reply lost on a flaky network).
import { GatewayError } from '../../errors/gateway-error.js'
import { revocationVerdict } from '../../revocation/rule.js'
import { StoreUnavailableError, type RefreshTokenRecord } from '../../store/types.js'
import { nowSeconds, type OAuthDeps } from '../deps.js'
import { hashRefreshToken, looksLikeRefreshToken, newRefreshToken, sessionRevocationExpiry } from '../refresh-tokens.js'
import { openSuccessor, sealSuccessor } from '../refresh-grace.js'
import { grantScope, intersect, requestedScope } from '../scope.js'
import type { GrantHandler } from './types.js'

const invalidGrant = (detail: string): GatewayError => new GatewayError('invalid_grant', { detail })

export const refreshTokenGrant: GrantHandler = async ({ deps, form, auth, request, dpopJkt }) => {
  const token = form.get('refresh_token')
  // RFC 6749 §6: refresh_token is REQUIRED
  if (token === undefined) throw new GatewayError('invalid_request', { description: 'refresh_token is required' })
  // An access token, or anything else not shaped like ours, is not looked up (SECURITY.md T43).
  if (!looksLikeRefreshToken(token)) throw invalidGrant('not a refresh token')
  const hash = hashRefreshToken(token)

  // Read before consuming: a token presented by the wrong client, or with a wider scope, is refused
  // without burning it, so a stolen token cannot be used to revoke its owner's session. The session,
  // user and client are checked before the rotation too: a refused refresh stores no successor.
  const record = await deps.store.getRefreshToken(hash)
  if (record === null) throw invalidGrant('unknown or expired refresh token')
  // RFC 6749 §6 / §10.4: the refresh token is bound to the client it was issued to (SECURITY.md T41)
  if (record.clientId !== auth.client.id) throw invalidGrant('refresh token of another client')
  const requested = requestedScope(form.get('scope'))
  // RFC 6749 §6: the requested scope MUST NOT include any scope not originally granted (T40)
  const narrowed = grantScope(requested, record.scope)

  await assertSessionAlive(deps, record)
  const user = await deps.store.getUser(record.sub)
  if (user === null || user.disabled) throw invalidGrant('user gone or disabled')

  // Consume the old token and store its successor in ONE atomic step: a store failure leaves the old
  // token unused, so a client retrying after our 503 is not taken for a replay (issue 9 item 13).
  // The successor is also kept, sealed under the old token, for REFRESH_GRACE seconds: a client whose
  // reply was lost after the rotation gets it again (refresh-grace.ts).
  let refreshToken = newRefreshToken()
  // Stryker disable next-line StringLiteral: any constant that is no RFC 7638 thumbprint means "no proof" alike
  const presenterJkt = dpopJkt ?? ''
  const rotated = await deps.store.rotateRefreshToken(hash, hashRefreshToken(refreshToken), { ...record, issuedAt: nowSeconds(deps) }, {
    presenterJkt, graceMs: deps.config.REFRESH_GRACE * 1000, sealedSuccessor: sealSuccessor(token, refreshToken)
  })
  if (rotated.status === 'unknown') throw invalidGrant('refresh token expired')
  // RFC 9449 §5: a bound family needs a proof of its own key; the token stays unused
  if (rotated.status === 'wrong_key') throw invalidGrant('refresh token bound to another DPoP key')
  if (rotated.status === 'grace') {
    const successor = openSuccessor(token, rotated.sealedSuccessor)
    // Stryker disable next-line ConditionalExpression: sealed under this very token by the rotation; a damaged entry fails closed
    if (successor === null) throw invalidGrant('grace entry unreadable')
    refreshToken = successor
    request.log.info({ reason: 'refresh_grace_retry', sid: rotated.record.sid, client_id: auth.client.id }, 'refresh retried within REFRESH_GRACE: same successor')
  } else if (rotated.status === 'reused') {
    // RFC 9700 §4.14.2: a replayed refresh token revokes the active one, i.e. the whole family; also
    // a retry outside the grace window, by another DPoP key, or after the successor was used (T38)
    await deps.store.revokeSession(rotated.record.sid, revokeUntil(deps, rotated.record))
    request.log.warn({ reason: 'refresh_token_reused', sid: rotated.record.sid, sub: rotated.record.sub, client_id: auth.client.id }, 'refresh token replayed: session revoked')
    throw invalidGrant('refresh token reused; session revoked')
  }

  // The access token follows today's entitlements; the family keeps its original scope (T39).
  const scope = intersect(narrowed, intersect(user.scopes, auth.client.scopes))
  return { sub: record.sub, scope, sid: record.sid, refreshToken, familyExpiresAt: record.expiresAt }
}

/** The one revocation rule (src/revocation/rule.ts), store epoch included (SECURITY.md E03): invalid_grant. */
async function assertSessionAlive (deps: OAuthDeps, record: RefreshTokenRecord): Promise<void> {
  if (record.expiresAt <= nowSeconds(deps)) throw invalidGrant('refresh token expired')
  const state = await deps.store.checkRevocation({ jti: `rt:${record.sid}`, sid: record.sid, sub: record.sub, clientId: record.clientId })
  const verdict = revocationVerdict({ user: true, issuedAt: record.issuedAt, epoch: record.epoch }, deps.store.epoch.current, state)
  if (verdict.kind === 'unknown') throw new StoreUnavailableError(verdict.reason) // 503, never a guess
  if (verdict.kind === 'refused') throw invalidGrant(verdict.reason)
}

function revokeUntil (deps: OAuthDeps, record: RefreshTokenRecord): number {
  return sessionRevocationExpiry(record, nowSeconds(deps), deps.config.ACCESS_TOKEN_TTL, deps.config.CLOCK_SKEW)
}
