// A user's sessions (issue 12 item 7): each refresh-token family is one session, recorded at every
// token request of the family with its client, creation time, last use, IP and user agent. Listed
// and ended by `portcullis users sessions` / `users revoke NAME --session ID`; ending one revokes
// its family and, through `sid`, its access tokens, exactly as a replayed refresh token does.
import type { FastifyRequest } from 'fastify'
import { revocationVerdict } from '../revocation/rule.js'
import type { SessionRecord, Store } from '../store/types.js'
import { sessionRevocationExpiry } from './refresh-tokens.js'

const MAX_AGENT = 200

/** The User-Agent as it is kept: printable ASCII only (never a control character in a listing), at most 200 characters. */
export function userAgentOf (request: FastifyRequest): string {
  const ua = request.headers['user-agent']
  return typeof ua === 'string' ? ua.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_AGENT) : ''
}

/** Records a token request of family `sid` (its creation when new). */
export async function recordSessionUse (store: Store, request: FastifyRequest, s: { sid: string, sub: string, clientId: string, now: number, expiresAt: number }): Promise<void> {
  await store.recordSession({
    sid: s.sid, sub: s.sub, clientId: s.clientId, createdAt: s.now, lastUsedAt: s.now, ip: request.ip, userAgent: userAgentOf(request), expiresAt: s.expiresAt
  })
}

/**
 * The user's live sessions: unexpired, and not refused by the one revocation rule (a revoked family,
 * a `users revoke` cut-off after its last use, a disabled user or client).
 */
export async function liveSessions (store: Store, sub: string): Promise<SessionRecord[]> {
  const epoch = store.epoch.current ?? await store.epoch.verify()
  const out: SessionRecord[] = []
  for (const s of await store.listSessions(sub)) {
    const state = await store.checkRevocation({ jti: `rt:${s.sid}`, sid: s.sid, sub: s.sub, clientId: s.clientId })
    if (revocationVerdict({ user: true, issuedAt: s.lastUsedAt, epoch: epoch ?? undefined }, epoch, state).kind === 'pass') out.push(s)
  }
  return out
}

/** Ends one session: its family's refresh tokens and access tokens are refused at once (RFC 7009 §2.1). False when the user has no such live session. */
export async function endSession (store: Store, sub: string, sid: string, opts: { nowS: number, accessTtl: number, clockSkew: number }): Promise<boolean> {
  const session = (await liveSessions(store, sub)).find((s) => s.sid === sid)
  if (session === undefined) return false
  const until = sessionRevocationExpiry({ sid, sub, clientId: session.clientId, scope: [], issuedAt: session.lastUsedAt, expiresAt: session.expiresAt }, opts.nowS, opts.accessTtl, opts.clockSkew)
  await store.revokeSession(sid, until)
  return true
}
