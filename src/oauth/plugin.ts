// The authorization server as one encapsulated Fastify plugin. Register it before the gateway's
// catch-all proxy route:  app.register(oauthPlugin, { config, store, keys })
// Its form parser, hooks and 405 routes live in its own scope and never touch proxied routes.
//
// Order of work on the POST endpoints (onRequest, before any body is read):
//   no-store headers → credentials-in-query refused → per-IP rate limit
// then the body parser (form only, 8 KiB) and the endpoint's own steps.
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods, RouteHandlerMethod } from 'fastify'
import type { Config } from '../config/env.js'
import { GatewayError } from '../errors/gateway-error.js'
import { StoreUnavailableError, type Store } from '../store/types.js'
import type { OAuthDeps } from './deps.js'
import { discoveryEndpoint, OAUTH_PATHS } from './discovery.js'
import { dpopSettings } from './dpop-request.js'
import { refuseQueryCredentials, registerFormParser } from './form.js'
import { introspectEndpoint } from './introspect.js'
import { jwksEndpoint } from './jwks.js'
import type { KeyRing } from './keys.js'
import { LoginThrottle } from './login-throttle.js'
import { configurePasswordPool, setDummyCost } from './passwords.js'
import { authorizePlugin } from './authorize/plugin.js'
import { revokeEndpoint } from './revoke.js'
import { tokenEndpoint, type TokenObserver } from './token-endpoint.js'

export interface OAuthPluginOptions {
  config: Readonly<Config>
  store: Store
  keys: KeyRing
  /** Scope descriptions for the consent page (the route map's `scopes` section); default none. */
  scopeDescriptions?: () => ReadonlyMap<string, string>
  /** Epoch milliseconds; tests pass a fixed clock. */
  now?: () => number
  /** Counts token requests (metrics); null or absent: nothing counted. */
  observer?: TokenObserver | null
}

const ALL_METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE']

export async function oauthPlugin (app: FastifyInstance, opts: OAuthPluginOptions): Promise<void> {
  const now = opts.now ?? Date.now
  const deps: OAuthDeps = {
    config: opts.config,
    store: opts.store,
    keys: opts.keys,
    now,
    throttle: new LoginThrottle(opts.store, opts.config, now),
    dpop: dpopSettings(opts.config, opts.store, now)
  }
  registerFormParser(app, opts.config.OAUTH_BODY_LIMIT)
  // Pre-computes the dummy hash unknown users and clients are compared against (passwords.ts), in the
  // background: start-up does not wait for a worker thread and a bcrypt; the first check that needs
  // the dummy awaits the same cached promise.
  configurePasswordPool({ threads: opts.config.BCRYPT_THREADS ?? 1, nice: opts.config.BCRYPT_NICE ?? 0, idle: opts.config.BCRYPT_SCHED_IDLE === '1' })
  setDummyCost(opts.config.BCRYPT_COST).catch((err: unknown) => { app.log.warn({ err }, 'cannot pre-compute the dummy password hash; retried on first use') })

  async function beforeBody (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    // RFC 6749 §5.1 (token), and for the same reasons at revoke and introspect: never cached
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache')
    refuseQueryCredentials(request)
    await storeGuard(async () => { await deps.throttle.checkIp(request.ip) })
    // F01: no key set loaded yet → 503 before any grant work (a refresh must not rotate a token
    // it then cannot sign for), and revoke/introspect cannot misjudge a token as unknown
    await storeGuard(async () => { await opts.keys.ensureReady() })
  }

  for (const [url, handler] of [
    [OAUTH_PATHS.token, tokenEndpoint(deps, opts.observer ?? null)],
    [OAUTH_PATHS.revoke, revokeEndpoint(deps)],
    [OAUTH_PATHS.introspect, introspectEndpoint(deps)]
  ] as const) {
    // RFC 6749 §3.2: the client MUST use HTTP POST (SECURITY.md T01)
    app.route({ method: 'POST', url, onRequest: beforeBody, handler: guarded(handler) })
    notAllowed(app, url, ['POST'])
  }
  // RFC 6749 §4.1: the authorization endpoint and the hosted login page, in their own scope (cookies, CSRF, HTML)
  const none = new Map<string, string>()
  await app.register(authorizePlugin, { deps, scopeDescriptions: opts.scopeDescriptions ?? (() => none) })
  app.get(OAUTH_PATHS.jwks, jwksEndpoint(opts.keys))
  notAllowed(app, OAUTH_PATHS.jwks, ['GET', 'HEAD'])
  app.get(OAUTH_PATHS.metadata, discoveryEndpoint(deps))
  notAllowed(app, OAUTH_PATHS.metadata, ['GET', 'HEAD'])
}

/** Every other method: 405 with Allow (RFC 9110 §15.5.6), refused before any body is read. */
function notAllowed (app: FastifyInstance, url: string, allowed: HTTPMethods[]): void {
  const allow = allowed.join(', ')
  app.route({
    method: ALL_METHODS.filter((m) => !allowed.includes(m)),
    url,
    onRequest: async (_request, reply) => {
      reply.header('Cache-Control', 'no-store')
      throw new GatewayError('method_not_allowed', { headers: { Allow: allow } })
    },
    handler: async () => { throw new GatewayError('method_not_allowed', { headers: { Allow: allow } }) }
  })
}

/** A store that cannot answer is 503 temporarily_unavailable + Retry-After, never a 500 (SECURITY.md T47, T61). */
async function storeGuard<T> (work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw new GatewayError('store_unavailable', { headers: { 'Retry-After': '1' }, cause: err, detail: err.message })
    throw err
  }
}

function guarded (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): RouteHandlerMethod {
  return async function (request, reply) {
    return await storeGuard(async () => await handler(request, reply))
  }
}
