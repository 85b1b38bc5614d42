// RFC 6750 bearer credentials: reading them from the request, and the challenges that answer
// a request without good ones. Pure functions over strings; nothing here allocates on the
// path of a well-formed request except the token slice itself.
//
//   credentials = "Bearer" 1*SP b64token          (RFC 6750 §2.1; we accept exactly one SP)
//
// The split of blame: a broken *field* (scheme alone, two spaces, a tab, extra parts, two fields)
// is a malformed request, 400 invalid_request; one whitespace-free token that is not a JWS of ours
// (JSON serialization, bad characters, JWE ...) is a malformed *token*, 401 invalid_token
// (RFC 6750 §3.1 lists "malformed" under both; the token's content is verifyAccessToken's job).

/** A syntactically broken Authorization request: RFC 6750 §3.1 invalid_request (400). */
export interface BearerProblem {
  readonly problem: string
}

/** What the Authorization header carries: a token, nothing usable (null), or a problem. */
export type BearerCredentials = string | null | BearerProblem

export const MALFORMED: BearerProblem = Object.freeze({ problem: 'Malformed Authorization header' })
export const NO_TOKEN: BearerProblem = Object.freeze({ problem: 'Bearer scheme without a token' })
export const REPEATED: BearerProblem = Object.freeze({ problem: 'More than one Authorization header' })
export const TWO_METHODS: BearerProblem = Object.freeze({ problem: 'Bearer token sent in more than one way' })

const SCHEME = 'bearer'

/**
 * Parses one Authorization field value (Node has already trimmed surrounding whitespace).
 * The scheme is case-insensitive (RFC 9110 §11.1); another scheme (Basic, Digest...) is not
 * a bearer credential at all: null, like no header.
 */
export function parseAuthorization (value: string): BearerCredentials {
  const n = value.length
  let i = 0
  for (; i < n; i++) {
    const c = value.charCodeAt(i)
    if (c === 32 || c === 9) break
  }
  if (i !== SCHEME.length) return null
  for (let k = 0; k < SCHEME.length; k++) {
    // `| 0x20` folds A-Z only onto a-z for these letters
    if ((value.charCodeAt(k) | 0x20) !== SCHEME.charCodeAt(k)) return null
  }
  // RFC 6750 §2.1: exactly `Bearer` SP b64token
  if (i === n) return NO_TOKEN
  if (value.charCodeAt(i) !== 32) return MALFORMED // tab
  const start = i + 1
  if (start === n) return NO_TOKEN
  // Stryker disable next-line EqualityOperator: j <= n only adds charCodeAt(n), NaN, which is neither a space nor a tab
  for (let j = start; j < n; j++) {
    const c = value.charCodeAt(j)
    if (c === 32 || c === 9) return MALFORMED // a second space, a tab, extra parts
  }
  return value.slice(start)
}

/** How many Authorization fields the request carried (Node keeps only the first in `headers`). */
export function countAuthorization (rawHeaders: readonly string[]): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (isAuthorization(rawHeaders[i]!)) count++
  }
  return count
}

const AUTHORIZATION = 'authorization'

/** Case-insensitive name comparison without allocating a lower-cased copy. */
function isAuthorization (name: string): boolean {
  if (name.length !== AUTHORIZATION.length) return false
  for (let k = 0; k < AUTHORIZATION.length; k++) {
    if ((name.charCodeAt(k) | 0x20) !== AUTHORIZATION.charCodeAt(k)) return false
  }
  return true
}

const ACCESS_TOKEN = 'access_token'

/**
 * Whether a raw query parameter name means `access_token` once decoded, the way an upstream's
 * query parser reads it: percent-encoded in any case of hex (`%61ccess_token`, `access%5ftoken`),
 * `+` as space. An undecodable name is not one (an upstream cannot read it as one either).
 */
export function isAccessTokenName (name: string): boolean {
  if (name.length === ACCESS_TOKEN.length) return name === ACCESS_TOKEN
  return name.length > ACCESS_TOKEN.length && name.includes('%') && decodedName(name) === ACCESS_TOKEN
}

/**
 * Whether the query string carries an `access_token` parameter (RFC 6750 §2.3), also when its
 * name is percent-encoded (isAccessTokenName). Never accepted as a credential: used to refuse a
 * token sent in two ways, and to strip the parameter before forwarding (SECURITY.md J61).
 */
export function queryHasAccessToken (query: string): boolean {
  let start = 0
  // Stryker disable next-line EqualityOperator: `<` only skips the empty name after a trailing `&`, which is never access_token
  while (start <= query.length) {
    let end = query.indexOf('&', start)
    if (end === -1) end = query.length
    let eq = query.indexOf('=', start)
    // Stryker disable next-line EqualityOperator: eq === end is impossible (one index cannot hold both `&` and `=`)
    if (eq === -1 || eq > end) eq = end
    if (eq - start >= ACCESS_TOKEN.length && isAccessTokenName(query.slice(start, eq))) return true
    start = end + 1
  }
  return false
}

function decodedName (name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' '))
  // Stryker disable next-line BlockStatement,StringLiteral: any value other than access_token answers the same
  } catch {
    // Stryker disable next-line StringLiteral: any value other than access_token answers the same
    return ''
  }
}

/** The RFC 6750 §3 challenges one realm answers with, built once. */
export interface Challenges {
  /** RFC 6750 §3.1: no credentials, no error code. */
  readonly bare: string
  invalidRequest(description: string): string
  invalidToken(description: string): string
  insufficientScope(scopes: readonly string[]): string
}

/**
 * `realm` and descriptions are our own constants (ASCII, no `"` or `\`); scope tokens cannot
 * contain either (RFC 6749 §3.3, enforced by the route-map schema).
 */
export function bearerChallenges (realm: string): Challenges {
  if (!/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/.test(realm)) throw new TypeError('realm must be printable ASCII without " or \\')
  const bare = `Bearer realm="${realm}"`
  const memo = new Map<string, string>()
  const cached = (key: string, build: () => string): string => {
    let v = memo.get(key)
    // Stryker disable next-line ConditionalExpression: building again yields the same string (a memo only)
    if (v === undefined) { v = build(); memo.set(key, v) }
    return v
  }
  return {
    bare,
    invalidRequest: (d) => cached(`r${d}`, () => `${bare}, error="invalid_request", error_description="${d}"`),
    invalidToken: (d) => cached(`t${d}`, () => `${bare}, error="invalid_token", error_description="${d}"`),
    insufficientScope: (scopes) => `${bare}, error="insufficient_scope", scope="${scopes.join(' ')}"`
  }
}
