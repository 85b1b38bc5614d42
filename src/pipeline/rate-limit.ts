// Stage 5, rate-limit: a fixed window per route and caller, counted in the Store (Redis in
// production) so every instance shares it. The policy is the matched route's, compiled from
// routes.yaml (`route.rateLimit`; null: not limited). Runs after authorize, so only requests the
// gateway would forward are counted.
//
// Keys: `rl:<route id>:<dimension>:<value>`, one namespace per dimension:
//   by subject: `sub:<subject>`   by client: `client:<client_id>`   by ip: `ip:<address>`
// An anonymous request on an `auth: optional` route limited by subject or client is counted by IP,
// in the `ip:` namespace, so it can never use up an authenticated caller's budget. The address is
// request.ip: the socket address unless Fastify's trustProxy lists the peer (SECURITY.md H09, T30), so
// X-Forwarded-For never picks the key. It is normalised by src/net/ip-key.ts, the one IP key the
// token endpoint's limit uses too (IPv4-mapped IPv6 to IPv4; IPv6 to its /64; no address: one
// fixed key, never a TypeError).
//
// Counting (issue 10 lever 1): by default `mode: batched`, in process and pushed to the Store in
// batches (rate-limit-batch.ts: no store round trip on the hot path, a bounded cluster-wide
// overshoot, README "At the edge", Rate-limit); per route `mode: exact`, one atomic store increment per request
// (rate-limit-store.ts). Both fall back to per-instance counting while the store is down. Headers are
// the draft-spec ones (draft-ietf-httpapi-ratelimit-headers): RateLimit-Limit, RateLimit-Remaining
// (never below 0), RateLimit-Reset (seconds until the window resets) on every response that reaches
// this stage; past the limit a 429 with Retry-After (RFC 6585 §4). Until issue 10 this stage asked
// @fastify/rate-limit per request (createRateLimit); its per-request cost bought nothing the counters
// below do not do themselves (bench/README.md "Levers of issue 10").
import type { FastifyInstance } from 'fastify'
import type { CompiledRoute, RateLimitPolicy } from '../config/route-types.js'
import { GatewayError } from '../errors/gateway-error.js'
import { ipKey } from '../net/ip-key.js'
import type { Store } from '../store/types.js'
import type { PipelineContext, Stage } from './context.js'
import { BatchedCounters, type BatchedCountersOptions } from './rate-limit-batch.js'
import { RateLimitCounters, type RateLimitCountersOptions, type RateLimitLogger, type WindowCount } from './rate-limit-store.js'

/** The draft-spec header names (draft-ietf-httpapi-ratelimit-headers). */
export const RATE_LIMIT_HEADERS = Object.freeze({
  limit: 'ratelimit-limit',
  remaining: 'ratelimit-remaining',
  reset: 'ratelimit-reset'
})

export interface RateLimitStageOptions extends RateLimitCountersOptions {
  store: Store
  /** Where "degraded to per-instance" is reported; default: the logger of the request that saw it. */
  logger?: RateLimitLogger
  /** The batched counters' push period and batch share (rate-limit-batch.ts); tests set flushEveryMs 0 and flush by hand. */
  batch?: Pick<BatchedCountersOptions, 'flushEveryMs' | 'batchFraction'>
}

/** The per-route part of the key, built once per compiled route (JSON-quoted: ids may hold `:`). */
const routePrefixes = new WeakMap<CompiledRoute, string>()

function routePrefix (route: CompiledRoute): string {
  let prefix = routePrefixes.get(route)
  if (prefix === undefined) {
    prefix = `rl:${JSON.stringify(route.id)}:`
    routePrefixes.set(route, prefix)
  }
  return prefix
}

/** The counter key for this request under `policy` (see the key table above). */
export function rateLimitKey (ctx: PipelineContext, policy: RateLimitPolicy): string {
  const prefix = routePrefix(ctx.route!)
  const identity = ctx.identity
  if (identity !== null) {
    if (policy.by === 'subject') return `${prefix}sub:${identity.subject}`
    if (policy.by === 'client') return `${prefix}client:${identity.clientId}`
  }
  return `${prefix}ip:${ipKey(ctx.request.ip)}`
}

/**
 * Builds the stage: exact counters (one store call per request) for `mode: exact` routes, batched
 * ones for the others, the batched ones pushed a last time when `app` starts closing.
 */
export async function rateLimitStage (app: FastifyInstance, opts: RateLimitStageOptions): Promise<Stage> {
  const exact = new RateLimitCounters(opts.store, opts)
  const batched = new BatchedCounters(opts.store, { ...opts, ...opts.batch, logger: opts.logger ?? app.log })
  app.addHook('preClose', async () => { await batched.close() }) // before the store closes (root onClose)

  return function rateLimit (ctx: PipelineContext): Promise<void> | undefined {
    const policy = ctx.route!.rateLimit
    if (policy === null) return undefined // not limited: nothing to await on the hot path
    const key = rateLimitKey(ctx, policy)
    if (policy.mode === 'exact') return exact.increment(key, policy.windowMs, ctx.request.log).then((r) => { decide(ctx, policy, r) })
    const r = batched.hit(key, policy.limit, policy.windowMs)
    if (r instanceof Promise) return r.then((w) => { decide(ctx, policy, w) })
    if (r.count > policy.limit) return Promise.reject(tooMany(policy, r)) // a refusal: off the hot path
    decide(ctx, policy, r)
    return undefined
  }
}

/** Sets the RateLimit headers, or throws the 429 past the limit. */
function decide (ctx: PipelineContext, policy: RateLimitPolicy, r: WindowCount): void {
  if (r.count > policy.limit) throw tooMany(policy, r)
  const reply = ctx.reply
  reply.header(RATE_LIMIT_HEADERS.limit, String(policy.limit))
  reply.header(RATE_LIMIT_HEADERS.remaining, String(policy.limit - r.count))
  reply.header(RATE_LIMIT_HEADERS.reset, resetSeconds(r))
}

const resetSeconds = (r: WindowCount): string => String(Math.max(1, Math.ceil(r.ttlMs / 1000)))

function tooMany (policy: RateLimitPolicy, r: WindowCount): GatewayError {
  const reset = resetSeconds(r)
  // RFC 6585 §4: 429 Too Many Requests; Retry-After in seconds (RFC 9110 §10.2.3)
  return new GatewayError('rate_limited', {
    detail: `over ${policy.limit} per ${policy.windowMs} ms by ${policy.by}`,
    headers: {
      [RATE_LIMIT_HEADERS.limit]: String(policy.limit),
      [RATE_LIMIT_HEADERS.remaining]: '0',
      [RATE_LIMIT_HEADERS.reset]: reset,
      'retry-after': reset
    }
  })
}
