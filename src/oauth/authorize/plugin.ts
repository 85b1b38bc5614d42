// GET /oauth/authorize (RFC 6749 §4.1.1) and the hosted login page, as one encapsulated plugin
// registered by the oauth plugin: its cookie, CSRF and HTML error handling never reach other routes.
//
//   GET  /oauth/authorize   check the request (request.ts); a login session (SSO) goes straight on,
//                           otherwise the login form; prompt=login always shows the form
//   POST /oauth/authorize   the login form: CSRF, login throttle, password, new session, then on
//   POST /oauth/consent     the consent form of clients registered with --consent
//   GET|POST /oauth/logout  a sign-out form, and the CSRF-protected sign-out
// "then on" = consent when the client asks for it, else a code to the redirect URI (response.ts).
import fastifyCookie from '@fastify/cookie'
import fastifyCsrf from '@fastify/csrf-protection'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../../errors/gateway-error.js'
import { sendError, toGatewayError } from '../../errors/handler.js'
import { refusalLog } from '../../pipeline/decision-log.js'
import { StoreUnavailableError } from '../../store/types.js'
import type { OAuthDeps } from '../deps.js'
import { FormParams, formOf, refuseQueryCredentials } from '../form.js'
import { pageHeaders } from './headers.js'
import { errorPage, logoutPage, STYLESHEET, STYLESHEET_PATH } from './pages.js'
import { parseAuthorizationRequest, type AuthorizationRequest, type ParsedRequest } from './request.js'
import { errorRedirect } from './response.js'
import { cookieOptions, endSession, readSession } from './session.js'
import { consent, continueAuthorization, login, showLogin } from './steps.js'

export const AUTHORIZE_PATHS = { authorize: '/oauth/authorize', consent: '/oauth/consent', logout: '/oauth/logout' } as const
const CSRF_COOKIE = 'portcullis-csrf'

export interface AuthorizePluginOptions {
  deps: OAuthDeps
  /** Scope descriptions for the consent page (the route map's `scopes` section). */
  scopeDescriptions: () => ReadonlyMap<string, string>
}

export async function authorizePlugin (app: FastifyInstance, opts: AuthorizePluginOptions): Promise<void> {
  const { deps } = opts
  await app.register(fastifyCookie, { secret: deps.config.sessionSecret })
  await app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: CSRF_COOKIE,
    cookieOpts: { path: '/oauth', httpOnly: true, sameSite: 'lax', signed: true },
    // the form parser gives FormParams; the token is the `_csrf` field, never a header or the query
    getToken: (req) => req.body instanceof FormParams ? req.body.get('_csrf') : undefined
  })
  app.setErrorHandler(pageErrorHandler)

  app.addHook('onRequest', async (request, reply) => {
    pageHeaders(reply)
    if (request.url === STYLESHEET_PATH) return
    if (request.method === 'POST') refuseQueryCredentials(request) // RFC 6749 §3.1: no password in a URL
    await guard(async () => { await deps.throttle.checkIp(request.ip) }) // SECURITY.md T29: as at the token endpoint
    await guard(async () => { await deps.keys.ensureReady() })
  })
  const csrf = { preHandler: app.csrfProtection }
  const csrfToken = (request: FastifyRequest, reply: FastifyReply): string => reply.generateCsrf(cookieOptions(request))

  app.get(STYLESHEET_PATH, async (_request, reply) => {
    return await reply.header('Cache-Control', 'public, max-age=3600').type('text/css; charset=utf-8').send(STYLESHEET)
  })

  app.route({
    method: 'GET',
    url: AUTHORIZE_PATHS.authorize,
    exposeHeadRoute: false, // a HEAD must not issue a code
    handler: async (request, reply) => {
      const query = new URLSearchParams(request.url.slice(request.url.indexOf('?') + 1 || request.url.length))
      const areq = await requestOrAnswer(deps, request, reply, await guard(async () => await parseAuthorizationRequest(deps.store, query)))
      if (areq === null) return reply
      const session = areq.forceLogin ? null : await guard(async () => await readSession(deps, request))
      if (session === null) return showLogin(reply, areq, csrfToken(request, reply))
      return await guard(async () => await continueAuthorization(deps, request, reply, areq, session.sub, opts.scopeDescriptions, csrfToken(request, reply)))
    }
  })

  app.post(AUTHORIZE_PATHS.authorize, csrf, async (request, reply) => {
    const form = formOf(request)
    const areq = await requestOrAnswer(deps, request, reply, await guard(async () => await parseAuthorizationRequest(deps.store, form.entries())))
    if (areq === null) return reply
    return await guard(async () => await login(deps, request, reply, areq, form, opts.scopeDescriptions, () => csrfToken(request, reply)))
  })

  app.post(AUTHORIZE_PATHS.consent, csrf, async (request, reply) => {
    const form = formOf(request)
    const areq = await requestOrAnswer(deps, request, reply, await guard(async () => await parseAuthorizationRequest(deps.store, form.entries())))
    if (areq === null) return reply
    return await guard(async () => await consent(deps, request, reply, areq, form, () => csrfToken(request, reply)))
  })

  app.get(AUTHORIZE_PATHS.logout, async (request, reply) => {
    const session = await guard(async () => await readSession(deps, request))
    return await reply.type('text/html; charset=utf-8').send(logoutPage(csrfToken(request, reply), session !== null))
  })

  app.post(AUTHORIZE_PATHS.logout, csrf, async (request, reply) => {
    await guard(async () => { await endSession(deps, request, reply) })
    request.log.info({ reason: 'login_session_ended' }, 'signed out')
    return await reply.type('text/html; charset=utf-8').send(logoutPage('', false))
  })
}

/**
 * RFC 6749 §4.1.2.1: a bad client_id or redirect_uri is shown to the user (an HTML page, or JSON
 * when the caller does not accept HTML) and never redirected; other errors go to the redirect URI.
 */
async function requestOrAnswer (deps: OAuthDeps, request: FastifyRequest, reply: FastifyReply, parsed: ParsedRequest): Promise<AuthorizationRequest | null> {
  if (parsed.kind === 'ok') return parsed.request
  if (parsed.kind === 'fatal') {
    const err = new GatewayError(parsed.code, { detail: parsed.detail })
    request.log.info(refusalLog(request, err), 'request refused')
    if (!wantsHtml(request)) {
      await sendError(reply, err)
      return null
    }
    const who = parsed.clientId === undefined ? undefined : `Client: ${parsed.clientId}`
    await reply.code(err.status).type('text/html; charset=utf-8').send(errorPage('Cannot continue', err.description, who))
    return null
  }
  request.log.info({ reason: 'authorize_error', error: parsed.error }, 'authorization request refused')
  const status = request.method === 'POST' ? 303 : 302 // RFC 9700 §4.11: never 307 after a form post
  await reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'")
    .redirect(errorRedirect(deps, parsed.redirectUri, parsed.state, parsed.error, parsed.description), status)
  return null
}

/** Browsers ask for text/html; API clients get the JSON body every other refusal has. */
function wantsHtml (request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/html')
}

/** A store that cannot answer: 503 + Retry-After (SECURITY.md F01), never a 500. */
async function guard<T> (work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw new GatewayError('store_unavailable', { headers: { 'Retry-After': '1' }, cause: err, detail: err.message })
    throw err
  }
}

/** Errors of these pages: logged like every refusal, answered as a page (or JSON for non-browsers). */
function pageErrorHandler (this: FastifyInstance, error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const code = (error as { code?: string } | null)?.code
  // @fastify/csrf-protection: FST_CSRF_MISSING_SECRET / FST_CSRF_INVALID_TOKEN (SECURITY.md W02)
  const ge = code?.startsWith('FST_CSRF_') === true ? new GatewayError('csrf_invalid', { detail: code, cause: error }) : toGatewayError(error)
  if (ge.status >= 500) request.log.warn({ ...refusalLog(request, ge), cause: (ge.cause as Error | undefined)?.message }, 'request failed')
  else request.log.info(refusalLog(request, ge), 'request refused')
  if (!wantsHtml(request)) return sendError(reply, ge)
  for (const [k, v] of Object.entries(ge.headers)) reply.header(k, v)
  const title = ge.status === 403 ? 'This form has expired' : ge.status === 429 ? 'Too many attempts' : ge.status >= 500 ? 'Try again later' : 'Cannot continue'
  return reply.code(ge.status).type('text/html; charset=utf-8').send(errorPage(title, ge.description))
}

