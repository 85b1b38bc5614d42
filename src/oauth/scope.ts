// Scope arithmetic for the token endpoint (RFC 6749 §3.3): granted = requested ∩ allowed, where
// allowed is the user's ∩ the client's; asking for anything outside is invalid_scope, never a silent drop.
import { GatewayError } from '../errors/gateway-error.js'
import { AccountError, parseScopes } from './accounts.js'

/** The `scope` parameter as a list; null when absent (or sent empty: RFC 6749 §3.2). */
export function requestedScope (raw: string | undefined): string[] | null {
  if (raw === undefined) return null
  try {
    return parseScopes(raw)
  } catch (err) {
    if (err instanceof AccountError) throw new GatewayError('invalid_scope', { description: 'The scope parameter is malformed', cause: err })
    throw err
  }
}

export function intersect (a: readonly string[], b: readonly string[]): string[] {
  const set = new Set(b)
  return a.filter((s) => set.has(s))
}

/** Everything allowed when nothing is requested; otherwise the request, if it fits inside `allowed`. */
export function grantScope (requested: string[] | null, allowed: readonly string[]): string[] {
  if (requested === null) return [...allowed]
  const extra = requested.filter((s) => !allowed.includes(s))
  // RFC 6749 §5.2 invalid_scope: exceeds the scope granted by the resource owner
  if (extra.length > 0) throw new GatewayError('invalid_scope', { detail: `not allowed: ${extra.join(' ')}` })
  return requested
}
