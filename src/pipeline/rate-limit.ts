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
// @fastify/rate-limit does the limiting: it is registered in the gateway's scope with `global: false`
// (its onRoute hooks cannot hold a hot-reloaded route table behind one catch-all route) and asked per
// request through its programmatic `createRateLimit`, with the matched route's policy as `max` /
// `timeWindow` and our key. Its counting store is our RateLimitCounters (the shared Store, with the
// bounded per-instance fallback), plugged in through the plugin's custom-store contract. Headers are
// the plugin's draft-spec ones (`enableDraftSpec`, draft-ietf-httpapi-ratelimit-headers):
// RateLimit-Limit, RateLimit-Remaining (never below 0), RateLimit-Reset (seconds until the window
// resets) on every response that reaches this stage; past the limit a 429 with Retry-After
// (RFC 6585 §4).
import rateLimitPlugin from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { CompiledRoute, RateLimitPolicy } from '../config/route-types.js'
import { GatewayError } from '../errors/gateway-error.js'
import { ipKey } from '../net/ip-key.js'
import type { Store } from '../store/types.js'
import type { PipelineContext, Stage } from './context.js'
import { RateLimitCounters, type RateLimitCountersOptions, type RateLimitLogger } from './rate-limit-store.js'

/** @fastify/rate-limit's draft-spec header names. */
export const RATE_LIMIT_HEADERS = Object.freeze({
  limit: 'ratelimit-limit',
  remaining: 'ratelimit-remaining',
  reset: 'ratelimit-reset'
})

export interface RateLimitStageOptions extends RateLimitCountersOptions {
  store: Store
  /** Where "degraded to per-instance" is reported; default: the logger of the request that saw it. */
  logger?: RateLimitLogger
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

/** The matched route's policy; the stage only asks the limiter when there is one. */
const policyOf = (req: FastifyRequest): RateLimitPolicy => req.pipeline!.route!.rateLimit!

/**
 * Registers @fastify/rate-limit in `app`'s scope with our counters as its store, and returns the
 * stage that asks it, per request, under the matched route's policy.
 */
export async function rateLimitStage (app: FastifyInstance, opts: RateLimitStageOptions): Promise<Stage> {
  const counters = new RateLimitCounters(opts.store, opts)
  const log = opts.logger ?? app.log
  // @fastify/rate-limit's custom store contract, over the shared counters
  class CountersStore {
    incr (key: string, done: (err: Error | null, res?: { current: number; ttl: number }) => void, timeWindow: number): void {
      counters.increment(key, timeWindow, log).then((r) => done(null, { current: r.count, ttl: r.ttlMs }), done)
    }

    child (): CountersStore { return this }
  }
  await app.register(rateLimitPlugin, { global: false, store: CountersStore })
  const check = app.createRateLimit({
    keyGenerator: (req) => rateLimitKey(req.pipeline!, policyOf(req)),
    max: (req) => policyOf(req).limit,
    timeWindow: (req) => policyOf(req).windowMs
  })

  async function limit (ctx: PipelineContext, policy: RateLimitPolicy): Promise<void> {
    const r = await check(ctx.request)
    if (r.isAllowed) return // never: no allow list is configured
    const reset = String(Math.max(1, r.ttlInSeconds))
    if (r.isExceeded) {
      // RFC 6585 §4: 429 Too Many Requests; Retry-After in seconds (RFC 9110 §10.2.3)
      throw new GatewayError('rate_limited', {
        detail: `over ${policy.limit} per ${policy.windowMs} ms by ${policy.by}`,
        headers: {
          [RATE_LIMIT_HEADERS.limit]: String(policy.limit),
          [RATE_LIMIT_HEADERS.remaining]: '0',
          [RATE_LIMIT_HEADERS.reset]: reset,
          'retry-after': reset
        }
      })
    }
    const reply = ctx.reply
    reply.header(RATE_LIMIT_HEADERS.limit, String(policy.limit))
    reply.header(RATE_LIMIT_HEADERS.remaining, String(r.remaining))
    reply.header(RATE_LIMIT_HEADERS.reset, reset)
  }

  return function rateLimit (ctx: PipelineContext): Promise<void> | undefined {
    const policy = ctx.route!.rateLimit
    if (policy === null) return undefined // not limited: nothing to await on the hot path
    return limit(ctx, policy)
  }
}
