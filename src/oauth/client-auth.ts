// Client authentication at /oauth/token, /oauth/revoke and /oauth/introspect (RFC 6749 §2.3).
// Methods: client_secret_basic (RFC 6749 §2.3.1, MUST be supported), client_secret_post, and `none`
// for public clients, which send client_id only. One method per request (RFC 6749 §2.3).
import type { FastifyRequest } from 'fastify'
import { GatewayError } from '../errors/gateway-error.js'
import type { ClientRecord, Store } from '../store/types.js'
import { checkClientId } from './accounts.js'
import type { FormParams } from './form.js'
import { verifySecret } from './passwords.js'

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none'

export interface AuthenticatedClient {
  client: ClientRecord
  method: ClientAuthMethod
}

interface Presented {
  id: string
  secret: string | null
  method: ClientAuthMethod
}

export const BASIC_CHALLENGE = 'Basic realm="portcullis"'

/**
 * RFC 6749 §5.2: invalid_client is 401, and when the client used the Authorization header the
 * response carries a WWW-Authenticate challenge for that scheme. A request with no credentials at all
 * gets the challenge too (RFC 9110 §11.6.1: it says how to authenticate). Body credentials that fail
 * get 401 without a challenge: there is no HTTP scheme to name.
 */
function invalidClient (challenge: boolean, detail: string): GatewayError {
  return new GatewayError('invalid_client', { detail, headers: challenge ? { 'WWW-Authenticate': BASIC_CHALLENGE } : {} })
}

/** Reads the credentials the client presented, without looking anything up. */
export function presentedCredentials (request: FastifyRequest, form: FormParams): Presented {
  const header = request.headers.authorization
  const bodyId = form.get('client_id')
  const bodySecret = form.get('client_secret')
  if (header !== undefined) {
    const basic = parseBasic(header)
    // RFC 6749 §2.3: the client MUST NOT use more than one authentication method in each request
    if (bodySecret !== undefined) throw new GatewayError('invalid_request', { description: 'Use one client authentication method per request', detail: 'basic and client_secret_post' })
    if (bodyId !== undefined && bodyId !== basic.id) throw new GatewayError('invalid_request', { description: 'client_id does not match the Authorization header' })
    return basic
  }
  if (bodyId === undefined) {
    if (bodySecret !== undefined) throw new GatewayError('invalid_request', { description: 'client_secret without client_id' })
    throw invalidClient(true, 'no client credentials')
  }
  return bodySecret === undefined
    ? { id: bodyId, secret: null, method: 'none' }
    : { id: bodyId, secret: bodySecret, method: 'client_secret_post' }
}

const TOKEN68 = /^[A-Za-z0-9+/]+={0,2}$/

/** RFC 6749 §2.3.1 + RFC 7617: base64 of form-urlencoded id ":" form-urlencoded secret. Never throws anything but invalid_client. */
function parseBasic (header: string): Presented {
  const space = header.indexOf(' ')
  const scheme = space === -1 ? header : header.slice(0, space)
  // RFC 9110 §11.1: the scheme is case-insensitive
  if (scheme.toLowerCase() !== 'basic') throw invalidClient(true, 'authorization scheme is not Basic')
  const token = header.slice(space + 1).trim()
  if (space === -1 || !TOKEN68.test(token)) throw invalidClient(true, 'malformed Basic credentials')
  const decoded = Buffer.from(token, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon === -1) throw invalidClient(true, 'Basic credentials without a colon')
  const id = formDecode(decoded.slice(0, colon))
  const secret = formDecode(decoded.slice(colon + 1))
  if (id === null || secret === null || id === '' || secret === '') throw invalidClient(true, 'malformed Basic credentials')
  return { id, secret, method: 'client_secret_basic' }
}

/** application/x-www-form-urlencoded decoding (RFC 6749 Appendix B); null when the escapes are broken. */
function formDecode (s: string): string | null {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return null
  }
}

/**
 * Authenticates the client. Confidential clients must prove their secret; a public client is
 * accepted on client_id alone only when allowPublic. Every failure is the same invalid_client, and
 * every secret check costs one bcrypt compare, known client or not (SECURITY.md T18).
 */
export async function authenticateClient (
  request: FastifyRequest, form: FormParams, store: Store, opts: { allowPublic: boolean }
): Promise<AuthenticatedClient> {
  const presented = presentedCredentials(request, form)
  const challenge = presented.method === 'client_secret_basic'
  const client = validId(presented.id) ? await store.getClient(presented.id) : null
  if (presented.secret === null) {
    if (client === null || client.secretHash !== null || client.disabled || !opts.allowPublic) {
      const detail = client === null
        ? 'unknown client'
        : client.secretHash !== null ? 'confidential client sent no secret' : client.disabled ? 'client disabled' : 'public client refused here'
      throw invalidClient(false, detail)
    }
    return { client, method: 'none' }
  }
  // A public client that sends a secret is refused too: verifySecret(_, null) is false, after the dummy compare.
  const ok = await verifySecret(presented.secret, client?.secretHash ?? null)
  if (!ok || client === null || client.disabled) {
    throw invalidClient(challenge, client === null ? 'unknown client' : client.disabled ? 'client disabled' : 'wrong client secret')
  }
  return { client, method: presented.method }
}

function validId (id: string): boolean {
  try {
    checkClientId(id)
    return true
  } catch {
    return false
  }
}
