// ADMIN_AUTH=required: every admin request needs a gateway access token with scope
// `portcullis:admin`, judged by the edge's own stages (authenticate, check-revocation, authorize),
// so signature, iss, aud, exp, the store epoch and revocation are checked exactly as at the edge.
// Refusals are the edge's: RFC 6750 §3.1 401 invalid_token / 403 insufficient_scope JSON with
// WWW-Authenticate, and 503 when the store cannot answer (fail closed).
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import type { Config } from '../config/env.js'
import type { CompiledRoute } from '../config/route-types.js'
import type { KeyRing } from '../oauth/keys.js'
import { authenticateStage, DEFAULT_REALM } from '../pipeline/authenticate.js'
import { authorizeStage } from '../pipeline/authorize.js'
import { checkRevocationStage } from '../pipeline/check-revocation.js'
import type { PipelineContext, Stage } from '../pipeline/context.js'
import type { Store } from '../store/types.js'

export const ADMIN_SCOPE = 'portcullis:admin'

/** The admin listener as a route the stages understand: a token with the admin scope, nothing forwarded. */
const ADMIN_ROUTE: CompiledRoute = Object.freeze({
  id: 'admin',
  path: '/*',
  methods: Object.freeze(['GET', 'HEAD'] as const),
  upstream: Object.freeze({ name: 'admin', origin: 'http://127.0.0.1', basePath: '', timeoutMs: 0 }),
  auth: 'required',
  scopes: Object.freeze([ADMIN_SCOPE]),
  rateLimit: null,
  forwardToken: false
})

export interface AdminAuthOptions {
  config: Readonly<Config>
  store: Store
  keys: KeyRing
  /** Paths served without a token (ADMIN_METRICS_PUBLIC=1: /metrics). */
  publicPaths: ReadonlySet<string>
}

/** The onRequest hook that admits only requests carrying a valid admin token. */
export function adminAuthHook (opts: AdminAuthOptions): onRequestAsyncHookHandler {
  const realm = DEFAULT_REALM
  const { config } = opts
  const stages: Stage[] = [
    authenticateStage({
      keys: opts.keys, realm, issuer: config.issuer, audience: config.AUDIENCE, clockSkew: config.CLOCK_SKEW, maxTokenLength: config.MAX_TOKEN_LENGTH
    }),
    checkRevocationStage({ store: opts.store, realm }),
    authorizeStage({ realm })
  ]
  const names = ['authenticate', 'check-revocation', 'authorize']
  return async function adminAuth (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = request.raw.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    if (opts.publicPaths.has(path)) return
    const ctx: PipelineContext = {
      request, reply, path, query: q < 0 ? '' : url.slice(q + 1), route: ADMIN_ROUTE, params: {}, identity: null, stage: ''
    }
    request.pipeline = ctx // the refusal log line names stage and subject
    for (let i = 0; i < stages.length; i++) {
      ctx.stage = names[i]!
      await stages[i]!(ctx)
    }
  }
}
