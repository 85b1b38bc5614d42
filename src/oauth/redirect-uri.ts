// Redirect URIs of authorization-code clients: what may be registered, and when a presented
// redirect_uri matches a registered one. RFC 6749 §3.1.2, RFC 9700 §4.1.3 (exact string matching)
// and RFC 8252 §7 (native apps): private-use schemes (§7.1), claimed https URIs (§7.2), and loopback
// IP literals on any port (§7.3). SECURITY.md W03 (open redirect).

/** Printable ASCII without the characters that are unsafe in HTML, CSP or a shell: " ' < > ` ; , \ { } | ^ and space. */
const SAFE = /^[!#-&(-+\--:=?-[\]_a-z~]+$/i
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::([0-9]{1,5}))?([/?].*)?$/
/** RFC 8252 §7.1: a private-use scheme is a reverse domain name (it holds a period). */
const PRIVATE_SCHEME = /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]*[a-z0-9]$/i
export const MAX_REDIRECT_URI = 512

export class RedirectUriError extends Error {
  override readonly name = 'RedirectUriError'
}

/** The URI if it may be registered; RedirectUriError (one line for the operator) otherwise. */
export function checkRedirectUri (uri: string): string {
  const bad = (why: string): RedirectUriError => new RedirectUriError(`invalid redirect URI ${JSON.stringify(uri)}: ${why}`)
  if (uri.length > MAX_REDIRECT_URI) throw bad(`longer than ${MAX_REDIRECT_URI} characters`)
  if (!SAFE.test(uri)) throw bad('use printable ASCII without space, quotes, < > ` ; , \\ { } | ^')
  // RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment component
  if (uri.includes('#')) throw bad('a fragment is not allowed (RFC 6749 §3.1.2)')
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    throw bad('not an absolute URI (RFC 6749 §3.1.2)')
  }
  if (url.username !== '' || url.password !== '') throw bad('no user information')
  const scheme = url.protocol.slice(0, -1)
  if (scheme === 'https') {
    if (url.hostname === '') throw bad('https needs a host') // RFC 8252 §7.2: claimed https URI
    return uri
  }
  if (scheme === 'http') {
    // RFC 8252 §7.3 / §8.3: loopback IP literals only; `localhost` is NOT RECOMMENDED (it can resolve elsewhere)
    if (!LOOPBACK.test(uri)) throw bad('http is allowed only for the loopback IP literals 127.0.0.1 and [::1] (RFC 8252 §7.3)')
    return uri
  }
  // RFC 8252 §7.1: private-use URI scheme based on a domain name the app controls
  if (!PRIVATE_SCHEME.test(scheme)) throw bad('use https, loopback http, or a reverse-domain private-use scheme such as com.example.app:/callback (RFC 8252 §7)')
  return uri
}

/** Each must be registrable; an authorization_code client needs at least one (RFC 6749 §3.1.2.2). Duplicates dropped. */
export function checkRedirectUris (uris: readonly string[], grants: readonly string[]): string[] {
  const checked = [...new Set(uris.map(checkRedirectUri))]
  if (checked.length === 0 && grants.includes('authorization_code')) throw new RedirectUriError('the authorization_code grant needs at least one redirect URI (--redirect-uri)')
  return checked
}

/**
 * RFC 9700 §4.1.3: exact string comparison; the one exception is RFC 8252 §7.3, a loopback
 * redirect URI, whose port may be any (the app picks a free one at run time).
 */
export function redirectUriMatches (registered: string, presented: string): boolean {
  if (registered === presented) return true
  const r = LOOPBACK.exec(registered)
  const p = LOOPBACK.exec(presented)
  if (r === null || p === null) return false
  const port = p[2] === undefined ? 80 : Number(p[2])
  return r[1] === p[1] && (r[3] ?? '') === (p[3] ?? '') && port >= 1 && port <= 65535 && !presented.includes('#')
}

/** The registered URI the presented one matches, or undefined. */
export function findRedirectUri (registered: readonly string[] | undefined, presented: string): string | undefined {
  return (registered ?? []).find((r) => redirectUriMatches(r, presented))
}

/**
 * The CSP source the browser may be sent to after the login form is posted (CSP form-action also
 * governs the redirect that answers it): the origin for http(s), the scheme for a private-use URI.
 * Only ever called with a URI that matched a registered one, so it holds no unsafe character.
 */
export function formActionSource (uri: string): string {
  const url = new URL(uri)
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol
}
