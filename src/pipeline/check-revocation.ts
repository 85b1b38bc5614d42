// Stage 3, check-revocation: one store round trip per authenticated request (RFC 7009 §2.2: a
// revoked token stops working; issue 4 point 2). The rule itself (which token is refused, the store
// epoch included) is src/revocation/rule.ts, shared with introspection and the refresh grant.
//
// The store epoch (SECURITY.md E02) is compared first, in memory: a token of another epoch is
// refused without a round trip, and without a confirmed epoch no token is judged (503).
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
import { epochVerdict, revocationVerdict, type RevocationVerdict, type TokenFacts } from '../revocation/rule.js'
import type { RevocationQuery, RevocationState, Store } from '../store/types.js'
import { bearerChallenges } from './bearer.js'
import type { PipelineContext, Stage } from './context.js'

export interface CheckRevocationOptions {
  store: Store
  realm: string
  /** Seconds a client should wait after a 503 (Retry-After). */
  retryAfter?: number
  /** REVOCATION_MODE=replicated: the local view, used while live. */
  replica?: RevocationReplica | null
}

export const DEFAULT_RETRY_AFTER = 2

export function checkRevocationStage (opts: CheckRevocationOptions): Stage {
  const store = opts.store
  const retryAfter = String(opts.retryAfter ?? DEFAULT_RETRY_AFTER)
  const challenge = bearerChallenges(opts.realm).invalidToken(ERRORS.revoked.description)

  const replica = opts.replica ?? null

  function enforce (verdict: RevocationVerdict): void {
    if (verdict.kind === 'pass') return
    // a token that cannot be judged now is never a pass (SECURITY.md E04)
    if (verdict.kind === 'unknown') throw new GatewayError('store_unavailable', { detail: verdict.reason, headers: { 'retry-after': retryAfter } })
    // RFC 6750 §3.1: a revoked token is an invalid_token
    throw new GatewayError('revoked', { detail: verdict.reason, headers: { 'www-authenticate': challenge } })
  }

  async function check (facts: TokenFacts, query: RevocationQuery): Promise<void> {
    let state: RevocationState
    try {
      state = await store.checkRevocation(query)
    } catch (err) {
      // fail closed: an unanswerable revocation check is never a pass
      throw new GatewayError('store_unavailable', { cause: err, detail: 'revocation check failed', headers: { 'retry-after': retryAfter } })
    }
    // the epoch as confirmed now: the connection may have dropped during the read
    enforce(revocationVerdict(facts, store.epoch.current, state))
  }

  return function checkRevocation (ctx: PipelineContext): Promise<void> | undefined {
    const identity = ctx.identity
    if (identity === null) return undefined
    const facts: TokenFacts = { user: identity.subjectType === 'user', issuedAt: identity.issuedAt, epoch: identity.storeEpoch }
    enforce(epochVerdict(facts.epoch, store.epoch.current)) // in memory, before any read
    const query: RevocationQuery = { jti: identity.tokenId, sid: identity.sessionId, sub: identity.subject, clientId: identity.clientId }
    const local = replica?.state(query) ?? null
    if (local === null) return check(facts, query)
    enforce(revocationVerdict(facts, store.epoch.current, local))
    return undefined
  }
}
