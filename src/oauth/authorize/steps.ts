// The steps after a valid authorization request: the login form, the password check (with the
// token endpoint's login throttle, SECURITY.md T20), consent, and the code. Each returns the reply.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../../errors/gateway-error.js'
import { normalizeUserName } from '../accounts.js'
import type { OAuthDeps } from '../deps.js'
import type { FormParams } from '../form.js'
import { verifySecret } from '../passwords.js'
import { formActionSource } from '../redirect-uri.js'
import { grantScope, intersect } from '../scope.js'
import { pageHeaders } from './headers.js'
import { consentPage, loginPage, type LoginPage } from './pages.js'
import type { AuthorizationRequest } from './request.js'
import { errorRedirect, issueCode } from './response.js'
import { readSession, startSession } from './session.js'

type Descriptions = () => ReadonlyMap<string, string>
const HTML = 'text/html; charset=utf-8'

export function showLogin (reply: FastifyReply, areq: AuthorizationRequest, csrf: string, status = 200, extra: Partial<LoginPage> = {}): FastifyReply {
  pageHeaders(reply, formActionSource(areq.redirectUri))
  return reply.code(status).type(HTML).send(loginPage({ clientId: areq.client.id, params: areq.params, csrf, ...extra }))
}

/** POST of the login form: the CSRF token was checked by the route. */
export async function login (
  deps: OAuthDeps, request: FastifyRequest, reply: FastifyReply, areq: AuthorizationRequest, form: FormParams, descriptions: Descriptions, csrf: () => string
): Promise<FastifyReply> {
  const username = form.get('username')
  const password = form.get('password')
  if (username === undefined || password === undefined) return showLogin(reply, areq, csrf(), 400, { username, error: 'missing' })
  const name = userKey(username)
  try {
    await deps.throttle.beginLogin(name ?? username.toLowerCase())
  } catch (err) {
    if (!(err instanceof GatewayError) || err.code !== 'login_throttled') throw err
    request.log.info({ reason: 'login_throttled' }, 'login refused')
    for (const [k, v] of Object.entries(err.headers)) reply.header(k, v)
    return showLogin(reply, areq, csrf(), 429, { username, error: 'throttled' })
  }
  const user = name === null ? null : await deps.store.getUser(name)
  const ok = await verifySecret(password, user?.passwordHash ?? null) // a dummy compare for unknown users (T23)
  if (!ok || user === null || user.disabled) {
    request.log.info({ reason: 'login_failed', client: areq.client.id, detail: user === null ? 'unknown user' : !ok ? 'wrong password' : 'user disabled' }, 'login refused')
    return showLogin(reply, areq, csrf(), 400, { username, error: 'credentials' })
  }
  await deps.throttle.loginSucceeded(user.name)
  await startSession(deps, request, reply, user.name)
  request.log.info({ reason: 'login_succeeded', subject: user.name, client: areq.client.id }, 'signed in')
  return await continueAuthorization(deps, request, reply, areq, user.name, descriptions, csrf(), 303)
}

/** Inside a login session: consent when the client asks for it, else the code. */
export async function continueAuthorization (
  deps: OAuthDeps, request: FastifyRequest, reply: FastifyReply, areq: AuthorizationRequest, sub: string,
  descriptions: Descriptions, csrf: string, status = 302, consented = false
): Promise<FastifyReply> {
  const user = await deps.store.getUser(sub)
  if (user === null || user.disabled) return showLogin(reply, areq, csrf)
  let scope: string[]
  try {
    scope = grantScope(areq.scope, intersect(user.scopes, areq.client.scopes))
  } catch {
    // RFC 6749 §4.1.2.1 invalid_scope: more than this user may grant
    return await reply.redirect(errorRedirect(deps, areq.redirectUri, areq.state, 'invalid_scope', 'The requested scope exceeds what the user is allowed'), status)
  }
  if (areq.client.consent === true && !consented) {
    pageHeaders(reply, formActionSource(areq.redirectUri))
    const known = descriptions()
    return reply.type(HTML).send(consentPage({
      clientId: areq.client.id, username: user.name, csrf, params: areq.params, scopes: scope.map((name) => ({ name, description: known.get(name) }))
    }))
  }
  const url = await issueCode(deps, areq, user.name, scope)
  request.log.info({ reason: 'code_issued', subject: user.name, client: areq.client.id }, 'authorization code issued')
  return await reply.redirect(url, status)
}

/** POST of the consent form (CSRF checked by the route); needs the login session. */
export async function consent (
  deps: OAuthDeps, request: FastifyRequest, reply: FastifyReply, areq: AuthorizationRequest, form: FormParams, csrf: () => string
): Promise<FastifyReply> {
  const session = await readSession(deps, request)
  if (session === null) return showLogin(reply, areq, csrf())
  if (form.get('decision') !== 'allow') {
    request.log.info({ reason: 'consent_denied', subject: session.sub, client: areq.client.id }, 'consent denied')
    // RFC 6749 §4.1.2.1 access_denied
    return await reply.redirect(errorRedirect(deps, areq.redirectUri, areq.state, 'access_denied', 'The user denied the request'), 303)
  }
  return await continueAuthorization(deps, request, reply, areq, session.sub, () => new Map(), csrf(), 303, true)
}

function userKey (username: string): string | null {
  try {
    return normalizeUserName(username)
  } catch {
    return null
  }
}
