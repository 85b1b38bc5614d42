// The authorization request (RFC 6749 §4.1.1 + RFC 7636 §4.3), checked in the order RFC 6749
// §4.1.2.1 sets: first client_id and redirect_uri, whose failures are shown to the user and NEVER
// redirected (SECURITY.md W03, open redirect); then everything else, whose failures go back to the
// client's redirect URI as `error`, `error_description`, `state` and `iss`.
import { isS256Challenge } from './pkce.js'
import type { ClientRecord, Store } from '../../store/types.js'
import { checkClientId } from '../accounts.js'
import { findRedirectUri } from '../redirect-uri.js'
import { requestedScope } from '../scope.js'

/** The parameters carried through the login and consent forms (and nothing else). */
export const REQUEST_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method', 'prompt'] as const
const MAX_STATE = 1024

export interface AuthorizationRequest {
  client: ClientRecord
  /** As presented (it matched a registered URI, RFC 8252 §7.3 loopback port included). */
  redirectUri: string
  state: string | undefined
  /** null: nothing requested (every scope the client and user allow). */
  scope: string[] | null
  codeChallenge: string | null
  /** `prompt=login`: show the form even inside a login session. */
  forceLogin: boolean
  /** The request's own parameters, to send back through a form. */
  params: Array<[string, string]>
}

export type ParsedRequest =
  | { kind: 'fatal'; code: 'unknown_client' | 'redirect_uri_invalid'; clientId: string | undefined; detail: string }
  | { kind: 'redirect_error'; redirectUri: string; state: string | undefined; error: string; description: string }
  | { kind: 'ok'; request: AuthorizationRequest }

/** Parameters by name; a repeated one is remembered (RFC 6749 §3.1: MUST NOT be included more than once). */
export function collectParams (entries: Iterable<[string, string]>): { values: Map<string, string>; repeated: Set<string> } {
  const values = new Map<string, string>()
  const repeated = new Set<string>()
  for (const [name, value] of entries) {
    if (values.has(name)) repeated.add(name)
    // RFC 6749 §3.1: parameters sent without a value MUST be treated as if omitted
    else if (value !== '') values.set(name, value)
  }
  return { values, repeated }
}

export async function parseAuthorizationRequest (store: Store, entries: Iterable<[string, string]>): Promise<ParsedRequest> {
  const { values, repeated } = collectParams(entries)
  const clientId = values.get('client_id')
  const fatal = (code: 'unknown_client' | 'redirect_uri_invalid', detail: string): ParsedRequest => ({ kind: 'fatal', code, clientId, detail })
  if (clientId === undefined || repeated.has('client_id')) return fatal('unknown_client', 'client_id missing or repeated')
  const client = validClientId(clientId) ? await store.getClient(clientId) : null
  if (client === null || client.disabled) return fatal('unknown_client', client === null ? 'unknown client' : 'client disabled')
  const presented = values.get('redirect_uri')
  // RFC 9700 §4.1.3: exact match against a registered URI; we require redirect_uri on every request
  if (presented === undefined || repeated.has('redirect_uri')) return fatal('redirect_uri_invalid', 'redirect_uri missing or repeated')
  if (findRedirectUri(client.redirectUris, presented) === undefined) return fatal('redirect_uri_invalid', 'redirect_uri not registered')

  const state = repeated.has('state') ? undefined : values.get('state')
  const refuse = (error: string, description: string): ParsedRequest => ({ kind: 'redirect_error', redirectUri: presented, state, error, description })
  if (repeated.size > 0) return refuse('invalid_request', 'A parameter is repeated')
  if (state !== undefined && state.length > MAX_STATE) return refuse('invalid_request', 'state is too long')
  // RFC 6749 §4.1.2.1 unauthorized_client: not allowed to request a code this way
  if (!client.grants.includes('authorization_code')) return refuse('unauthorized_client', 'The client may not use the authorization code grant')
  const responseType = values.get('response_type')
  if (responseType === undefined) return refuse('invalid_request', 'response_type is required')
  // RFC 6749 §4.1.2.1 unsupported_response_type: only `code` (no implicit grant, RFC 9700 §2.1.2)
  if (responseType !== 'code') return refuse('unsupported_response_type', 'Only response_type=code is supported')

  const challenge = values.get('code_challenge')
  const method = values.get('code_challenge_method')
  // RFC 7636 §4.4.1 / RFC 9700 §2.1.1: S256 only; a method without a challenge is malformed too
  if (method !== undefined && method !== 'S256') return refuse('invalid_request', 'code_challenge_method must be S256')
  if (challenge === undefined) {
    if (method !== undefined) return refuse('invalid_request', 'code_challenge is required with code_challenge_method')
    // RFC 8252 §8.1 / RFC 9700 §2.1.1: PKCE is required of public clients
    if (client.secretHash === null) return refuse('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256')
  } else {
    // RFC 7636 §4.3: the method defaults to plain, which we refuse; so S256 must be named
    if (method === undefined) return refuse('invalid_request', 'code_challenge_method must be S256')
    if (!isS256Challenge(challenge)) return refuse('invalid_request', 'code_challenge is not a valid S256 challenge')
  }

  let scope: string[] | null
  try {
    scope = requestedScope(values.get('scope'))
  } catch {
    return refuse('invalid_scope', 'The requested scope is malformed')
  }
  // RFC 6749 §4.1.2.1 invalid_scope: outside what the client may ever get (the user's are checked after login)
  if (scope !== null && scope.some((s) => !client.scopes.includes(s))) return refuse('invalid_scope', 'The requested scope exceeds what the client is allowed')
  const prompt = values.get('prompt')
  if (prompt !== undefined && prompt !== 'login') return refuse('invalid_request', 'Only prompt=login is supported')

  const params = REQUEST_PARAMS.flatMap((name): Array<[string, string]> => {
    const v = values.get(name)
    return v === undefined || name === 'prompt' ? [] : [[name, v]]
  })
  return { kind: 'ok', request: { client, redirectUri: presented, state, scope, codeChallenge: challenge ?? null, forceLogin: prompt === 'login', params } }
}

function validClientId (id: string): boolean {
  try {
    checkClientId(id)
    return true
  } catch {
    return false
  }
}
