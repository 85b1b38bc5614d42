// The authorization response (RFC 6749 §4.1.2): a fresh code, stored hashed and bound to the
// client, the redirect URI and the PKCE challenge, sent back with `state` unchanged and `iss`
// (RFC 9207, against mix-up). Errors (§4.1.2.1) go back the same way.
import { createHash, randomBytes } from 'node:crypto'
import type { AuthCodeRecord } from '../../store/types.js'
import { nowSeconds, type OAuthDeps } from '../deps.js'
import { newSessionId } from '../refresh-tokens.js'
import type { AuthorizationRequest } from './request.js'

/** Codes live at most 60 s (RFC 6749 §4.1.2 recommends at most 10 minutes). */
export const CODE_TTL_S = 60
const CODE_SHAPE = /^[A-Za-z0-9_-]{43}$/

export function hashCode (code: string): string {
  return createHash('sha256').update(code).digest('base64url')
}

/** Cheap shape check: anything else is not looked up at all. */
export function looksLikeCode (code: string): boolean {
  return CODE_SHAPE.test(code)
}

/** Issues and stores a code for `sub`; resolves the redirect URL that carries it. */
export async function issueCode (deps: OAuthDeps, req: AuthorizationRequest, sub: string, scope: string[]): Promise<string> {
  const code = randomBytes(32).toString('base64url') // 256 bits
  const issuedAt = nowSeconds(deps)
  const record: AuthCodeRecord = {
    clientId: req.client.id,
    redirectUri: req.redirectUri,
    codeChallenge: req.codeChallenge,
    sub,
    scope,
    sid: newSessionId(), // the session of every token this code will give (a replay revokes it)
    issuedAt,
    expiresAt: issuedAt + CODE_TTL_S
  }
  await deps.store.codes.put(hashCode(code), record)
  return redirectTo(deps, req.redirectUri, { code, state: req.state })
}

/** RFC 6749 §4.1.2.1: an error for the client, at its (verified) redirect URI. */
export function errorRedirect (deps: OAuthDeps, redirectUri: string, state: string | undefined, error: string, description: string): string {
  return redirectTo(deps, redirectUri, { error, error_description: description, state })
}

/** RFC 6749 §3.1.2: the redirect URI's own query is kept; our parameters are appended. */
function redirectTo (deps: OAuthDeps, redirectUri: string, params: Record<string, string | undefined>): string {
  const query = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.append(k, v)
  query.append('iss', deps.config.issuer) // RFC 9207 §2
  return `${redirectUri}${redirectUri.includes('?') ? '&' : '?'}${query.toString()}`
}
