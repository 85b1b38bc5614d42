// Stage 3, check-revocation: one store round trip per authenticated request (RFC 7009 §2.2: a
// revoked token stops working; issue 4 point 2). A token is refused when its jti is revoked,
// its session (refresh-token family) is revoked, its client is disabled or was disabled after the
// token was issued (`iat < client revokedBefore`), or, for a user token,
// the user is disabled or revoked everything issued before a cut-off (`iat < revokedBefore`,
// see userCutoff in src/oauth/accounts.ts). Anonymous requests have nothing to check.
//
// REVOCATION_MODE=replicated: with a live replica (src/revocation/replica.ts) the same state is read
// from the instance's local view, kept current by the store's revocation feed, without a round trip;
// whenever the replica is not live (starting, feed lost, re-syncing) the stage reads the store.
//
// Fail closed: if the store cannot answer (its own timeout, REDIS_TIMEOUT, bounds the wait),
// the request is refused with 503 + Retry-After and never forwarded (SECURITY.md J67, F02).
import { ERRORS } from '../errors/codes.js'
import { GatewayError } from '../errors/gateway-error.js'
import type { RevocationReplica } from '../revocation/replica.js'
import type { RevocationQuery, RevocationState, Store } from '../store/types.js'
import { bearerChallenges } from './bearer.js'
import type { Identity, PipelineContext, Stage } from './context.js'

export interface CheckRevocationOptions {
  store: Store
  realm: string
  /** Seconds a client should wait after a 503 (Retry-After). */
  retryAfter?: number
  /** REVOCATION_MODE=replicated: the local view, used while live. */
  replica?: RevocationReplica | null
}

export const DEFAULT_RETRY_AFTER = 2

/** Why a token is refused, as a log detail; null when it is not. */
export function revocationReason (state: RevocationState, identity: Identity): string | null {
  if (state.tokenRevoked) return 'token revoked'
  if (state.sessionRevoked) return 'session revoked'
  if (state.clientDisabled) return 'client disabled'
  // clients disable sets a client cut-off: enabling the client again never revives older tokens
  if (state.clientRevokedBefore !== null && identity.issuedAt < state.clientRevokedBefore) return 'client revoked before'
  // a client_credentials subject (`client:<id>`) is no user: the user rows never apply to it
  if (identity.subjectType === 'user') {
    if (state.userDisabled) return 'user disabled'
    if (state.userRevokedBefore !== null && identity.issuedAt < state.userRevokedBefore) return 'user revoked before'
  }
  return null
}

export function checkRevocationStage (opts: CheckRevocationOptions): Stage {
  const store = opts.store
  const retryAfter = String(opts.retryAfter ?? DEFAULT_RETRY_AFTER)
  const challenge = bearerChallenges(opts.realm).invalidToken(ERRORS.revoked.description)

  const replica = opts.replica ?? null

  function decide (state: RevocationState, identity: Identity): void {
    const reason = revocationReason(state, identity)
    // RFC 6750 §3.1: a revoked token is an invalid_token
    if (reason !== null) throw new GatewayError('revoked', { detail: reason, headers: { 'www-authenticate': challenge } })
  }

  async function check (identity: Identity, query: RevocationQuery): Promise<void> {
    let state: RevocationState
    try {
      state = await store.checkRevocation(query)
    } catch (err) {
      // fail closed: an unanswerable revocation check is never a pass
      throw new GatewayError('store_unavailable', { cause: err, detail: 'revocation check failed', headers: { 'retry-after': retryAfter } })
    }
    decide(state, identity)
  }

  return function checkRevocation (ctx: PipelineContext): Promise<void> | undefined {
    const identity = ctx.identity
    if (identity === null) return undefined
    const query: RevocationQuery = { jti: identity.tokenId, sid: identity.sessionId, sub: identity.subject, clientId: identity.clientId }
    const local = replica?.state(query) ?? null
    if (local === null) return check(identity, query)
    decide(local, identity)
    return undefined
  }
}
