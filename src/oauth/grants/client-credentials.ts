// RFC 6749 §4.4: client credentials, for confidential clients only. The subject is `client:<id>`, a
// namespace no username can enter (accounts.ts forbids `:`), so a client never poses as a user
// (RFC 9700 §4.15.1, SECURITY.md T34). No refresh token (RFC 6749 §4.4.3), no session.
import { GatewayError } from '../../errors/gateway-error.js'
import { grantScope, requestedScope } from '../scope.js'
import type { GrantHandler } from './types.js'

export const clientCredentialsGrant: GrantHandler = async ({ form, auth }) => {
  // RFC 6749 §4.4: MUST only be used by confidential clients
  if (auth.method === 'none' || auth.client.secretHash === null) {
    throw new GatewayError('unauthorized_client', { description: 'Public clients cannot use client_credentials' })
  }
  const scope = grantScope(requestedScope(form.get('scope')), auth.client.scopes)
  return { sub: `client:${auth.client.id}`, scope }
}
