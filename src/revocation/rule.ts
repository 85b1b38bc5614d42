// The revocation rule, written once (RFC 7009 §2.2: a revoked token stops working). The edge's
// check-revocation stage, introspection (RFC 7662 §2.2) and the refresh grant (RFC 6749 §6) all
// ask it, over the store's answer (RevocationState) and the epoch this instance confirmed; each
// maps the verdict to its own answer (401 invalid_token, {"active":false}, invalid_grant; 503).
//
// A token is refused when:
//   - it was issued under another store epoch, or carries none (SECURITY.md E02): the data that
//     could revoke it is gone, so its state is unknown, and unknown never passes;
//   - its jti is revoked, its session (refresh-token family) is revoked, its client is disabled, or its
//     client was disabled after it was issued (`iat < client revokedBefore`: enabling the client again
//     never revives older tokens);
//   - for a user token: the user is disabled, or revoked everything issued before a cut-off
//     (`iat < revokedBefore`, see userCutoff in src/oauth/accounts.ts). A client_credentials
//     subject (`client:<id>`) is no user: the user rows never apply to it.
// It cannot be judged (503, retry) while this instance has no confirmed epoch (store unreachable
// since the last check, or a store that may evict keys: SECURITY.md E04).
import type { RevocationState } from '../store/types.js'

/** What the rule needs to know about the token being judged. */
export interface TokenFacts {
  /** False for client_credentials tokens (subject `client:<id>`): the user rows do not apply. */
  user: boolean
  /** Epoch seconds: `iat`, or the refresh token's issuedAt. */
  issuedAt: number
  /** The store epoch it was issued under (`sep` claim, refresh record); undefined when it has none. */
  epoch: string | undefined
}

export type RefusalReason =
  | 'store epoch mismatch'
  | 'token revoked'
  | 'session revoked'
  | 'client disabled'
  | 'client revoked before'
  | 'user disabled'
  | 'user revoked before'

export type RevocationVerdict =
  | { readonly kind: 'pass' }
  /** Refused for good: 401 invalid_token at the edge, inactive at introspection, invalid_grant at refresh. */
  | { readonly kind: 'refused', readonly reason: RefusalReason }
  /** Cannot be judged now: 503 + Retry-After, never a pass. */
  | { readonly kind: 'unknown', readonly reason: 'store epoch unconfirmed' }

const PASS: RevocationVerdict = Object.freeze({ kind: 'pass' })
const UNCONFIRMED: RevocationVerdict = Object.freeze({ kind: 'unknown', reason: 'store epoch unconfirmed' })
const refusals = new Map<RefusalReason, RevocationVerdict>()
function refused (reason: RefusalReason): RevocationVerdict {
  let v = refusals.get(reason)
  if (v === undefined) refusals.set(reason, v = Object.freeze({ kind: 'refused', reason }))
  return v
}

/** The epoch rows alone: costs nothing, so callers may ask it before any store read. */
export function epochVerdict (tokenEpoch: string | undefined, storeEpoch: string | null): RevocationVerdict {
  if (storeEpoch === null) return UNCONFIRMED
  // SECURITY.md E02: issued under another (lost) data set, or before epochs existed
  if (tokenEpoch !== storeEpoch) return refused('store epoch mismatch')
  return PASS
}

/** The whole rule: the epoch rows, then the store's answer. */
export function revocationVerdict (token: TokenFacts, storeEpoch: string | null, state: RevocationState): RevocationVerdict {
  const epoch = epochVerdict(token.epoch, storeEpoch)
  if (epoch.kind !== 'pass') return epoch
  if (state.tokenRevoked) return refused('token revoked')
  if (state.sessionRevoked) return refused('session revoked')
  if (state.clientDisabled) return refused('client disabled')
  // clients disable sets a client cut-off: enabling the client again never revives older tokens
  if (state.clientRevokedBefore !== null && token.issuedAt < state.clientRevokedBefore) return refused('client revoked before')
  if (token.user) {
    if (state.userDisabled) return refused('user disabled')
    if (state.userRevokedBefore !== null && token.issuedAt < state.userRevokedBefore) return refused('user revoked before')
  }
  return PASS
}

/** The subject namespace of client_credentials tokens (src/oauth/grants/client-credentials.ts). */
export const CLIENT_SUBJECT_PREFIX = 'client:'

/** Whether `sub` names a user (not the client itself, RFC 9700 §4.15.1). */
export function isUserSubject (sub: string, clientId: string): boolean {
  return sub !== CLIENT_SUBJECT_PREFIX + clientId
}
