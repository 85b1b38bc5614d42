// The request pipeline, in the one place its order is written down:
//
//   match → authenticate → check-revocation → authorize → rate-limit → forward
//
// Each stage is a module named for its job (same shape: `(ctx) => void | Promise<void>`,
// throwing a GatewayError to refuse). The order is security: it is registered explicitly here.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { parseTrustProxy, type Config } from '../config/env.js'
import { toGatewayError } from '../errors/handler.js'
import type { KeyRing } from '../oauth/keys.js'
import type { Store } from '../store/types.js'
import type { FinalStage, PipelineContext, Stage } from './context.js'
import { authenticateStage, DEFAULT_REALM } from './authenticate.js'
import { authorizeStage } from './authorize.js'
import { dpopEdge } from './dpop-proof.js'
import { dpopSettings } from '../oauth/dpop-request.js'
import { checkRevocationStage } from './check-revocation.js'
import { DecisionFile } from './decision-file.js'
import { allowRecord, refusalRecord } from './decision-log.js'
import { forwardStage, type ForwardOptions } from './forward.js'
import { matchStage, type RouteSource } from './match.js'
import type { PipelineObserver } from './observer.js'
import { rateLimitStage } from './rate-limit.js'
import { tokenCacheFor } from './token-cache.js'
import { revocationReplicaFor, type RevocationReplica } from '../revocation/replica.js'
import { UpstreamAgents } from './upstream-agents.js'

export interface PipelineOptions {
  routes: RouteSource
  config: Readonly<Config>
  store: Store
  keys: KeyRing
  forward?: ForwardOptions
  /** REVOCATION_MODE=replicated: the local revocation view (null or absent: strict). */
  revocations?: RevocationReplica | null
  /** Metrics (ADMIN_PORT set); null or absent: nothing is observed. */
  observer?: PipelineObserver | null
  /** The gateway is draining (app.ts): forwarded responses close their connection, as every other does. */
  isClosing?: () => boolean
}

export interface Pipeline {
  /** Every check, in order; each throws a GatewayError to refuse. */
  stages: Stage[]
  /** stageNames[i] names stages[i] in the decision log. */
  stageNames: string[]
  forward: FinalStage
}

/** `rateLimit` is the stage built by rateLimitStage(app, ...) (its batched counters are pushed a last time when app starts closing). */
export function buildPipeline (opts: PipelineOptions, rateLimit: Stage): Pipeline {
  const realm = DEFAULT_REALM
  const { config, keys, store } = opts
  const tokenCache = tokenCacheFor(config)
  opts.observer?.attach({ tokenCache, revocations: opts.revocations ?? null })
  const ordered: Array<[string, Stage]> = [
    ['match', matchStage(opts.routes)],
    ['authenticate', authenticateStage({
      keys, realm, issuer: config.issuer, audience: config.AUDIENCE, clockSkew: config.CLOCK_SKEW, maxTokenLength: config.MAX_TOKEN_LENGTH,
      tokenCache, dpop: dpopEdge(dpopSettings(config, store), realm)
    })],
    ['check-revocation', checkRevocationStage({ store, realm, replica: opts.revocations ?? null })],
    ['authorize', authorizeStage({ realm })],
    ['rate-limit', rateLimit]
  ]
  return {
    stages: ordered.map(([, stage]) => stage),
    stageNames: ordered.map(([name]) => name),
    forward: forwardStage({ isClosing: opts.isClosing, ...opts.forward, trustedProxies: parseTrustProxy(config.TRUST_PROXY) || [], maxBodySize: config.MAX_BODY_SIZE })
  }
}

/** Registers the catch-all gateway route. Register after the gateway's own endpoints. */
export async function gatewayPlugin (app: FastifyInstance, opts: PipelineOptions): Promise<void> {
  // request.trace is set by tracing's onRequest hook (src/observability/tracing.ts) when tracing is on
  if (!app.hasRequestDecorator('trace')) app.decorateRequest('trace', null)
  // DECISION_LOG: one line per decision (README "Decision log and replay"); off, it costs a null check
  // (opened first: a path that cannot be opened stops the start before the pipeline opens anything else)
  const decisions = opts.config.DECISION_LOG === undefined
    ? null
    : await DecisionFile.open(opts.config.DECISION_LOG, { maxBytes: opts.config.DECISION_LOG_MAX_BYTES, log: app.log })
  if (decisions !== null) app.addHook('onClose', async () => { await decisions.close() })

  const revocations = revocationReplicaFor(opts.config, opts.store, app.log)
  if (revocations !== null) app.addHook('onClose', async () => { await revocations.close() })
  // TLS verified for every https: upstream unless it says tls_verify: false (SECURITY.md H15)
  const agents = new UpstreamAgents({ routes: opts.routes, log: app.log, agent: { connections: 128, pipelining: 1 } })
  app.addHook('onClose', async () => { await agents.close() })
  const forwardOpts = { ...opts.forward, dispatcher: agents.dispatcher }
  const { stages, stageNames, forward } = buildPipeline({ ...opts, revocations, forward: forwardOpts }, await rateLimitStage(app, { store: opts.store }))
  const count = stages.length
  const observer = opts.observer ?? null

  // Bodies are streamed to the upstream, never buffered or parsed here.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, payload, done) => { done(null, payload) })

  async function handle (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    // Stryker disable next-line StringLiteral: placeholders, written by the match stage before anything reads them
    const ctx: PipelineContext = { request, reply, path: '', query: '', route: null, params: {}, identity: null, stage: '' }
    request.pipeline = ctx
    // one span per stage when tracing is on (src/observability/tracing.ts); off: null
    const trace = request.trace
    try {
      for (let i = 0; i < count; i++) {
        ctx.stage = stageNames[i]!
        if (trace !== null) trace.stage(ctx.stage)
        const r = stages[i]!(ctx)
        // Stryker disable next-line ConditionalExpression: awaiting undefined is a no-op; the test only saves a tick on the hot path
        if (r !== undefined) await r
      }
    } catch (err) {
      // a stage refused: one decision line (the error handler answers and writes the log line)
      if (decisions !== null) decisions.write(refusalRecord(ctx, toGatewayError(err).code))
      throw err
    }
    if (trace !== null) trace.stage(null)
    // every stage passed: the request is allowed, whatever the upstream then answers
    if (decisions !== null) decisions.write(allowRecord(ctx))
    ctx.stage = 'forward'
    if (observer !== null) observer.forwarding(ctx)
    return forward(ctx)
  }

  app.all('/*', { exposeHeadRoute: false }, handle)
  app.all('/', { exposeHeadRoute: false }, handle)
}
