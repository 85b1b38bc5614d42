// RFC 6749 §4.3: resource owner password credentials. RFC 9700 §2.4 deprecates it; Portcullis keeps it
// for first-party apps only, per client (the client must be allowed the `password` grant).
// An unknown user, a wrong password and a disabled user get the same invalid_grant after the same
// bcrypt work (SECURITY.md T23-T25); every attempt counts against the username (login-throttle.ts).
import { GatewayError } from '../../errors/gateway-error.js'
import { normalizeUserName } from '../accounts.js'
import { nowSeconds } from '../deps.js'
import { verifySecret } from '../passwords.js'
import { issueRefreshToken, newSessionId } from '../refresh-tokens.js'
import { grantScope, intersect, requestedScope } from '../scope.js'
import { familyBinding, type GrantHandler } from './types.js'

export const passwordGrant: GrantHandler = async (input) => {
  const { deps, form, auth } = input
  const username = form.get('username')
  const password = form.get('password')
  // RFC 6749 §4.3.2: username and password are REQUIRED
  if (username === undefined || password === undefined) {
    throw new GatewayError('invalid_request', { description: 'username and password are required' })
  }
  const name = userKey(username)
  await deps.throttle.beginLogin(name ?? username.toLowerCase())
  const user = name === null ? null : await deps.store.getUser(name)
  const ok = await verifySecret(password, user?.passwordHash ?? null)
  // Stryker disable next-line ConditionalExpression: verifySecret(password, null) is false, so `!ok` already refuses an unknown user
  if (!ok || user === null || user.disabled) {
    throw new GatewayError('invalid_grant', {
      description: 'Invalid username or password',
      detail: user === null ? 'unknown user' : !ok ? 'wrong password' : 'user disabled'
    })
  }
  await deps.throttle.loginSucceeded(user.name)

  const scope = grantScope(requestedScope(form.get('scope')), intersect(user.scopes, auth.client.scopes))
  const sid = newSessionId()
  if (!auth.client.grants.includes('refresh_token')) return { sub: user.name, scope, sid }
  const issuedAt = nowSeconds(deps)
  const refreshToken = await issueRefreshToken(deps.store, {
    sid,
    sub: user.name,
    clientId: auth.client.id,
    scope, // the family's scope: later refreshes may narrow it, never widen (RFC 6749 §6)
    issuedAt,
    expiresAt: issuedAt + deps.config.REFRESH_TOKEN_TTL,
    ...familyBinding(input)
  })
  return { sub: user.name, scope, sid, refreshToken, familyExpiresAt: issuedAt + deps.config.REFRESH_TOKEN_TTL }
}

/** The stored form of the username (case-insensitive, accounts.ts), or null when it cannot exist. */
function userKey (username: string): string | null {
  try {
    return normalizeUserName(username)
  } catch {
    return null
  }
}
