// Stage 4, authorize: the scopes that routes.yaml declares for the matched route and method
// (ctx.route, compiled once), all required, exact string match (RFC 9068 §4, RFC 6750 §3.1).
// The decision is made on the route the router matched for the canonical path, which is the
// path the upstream receives: never on a pattern over the raw URL (SECURITY.md, P rows).
import { GatewayError } from '../errors/gateway-error.js'
import type { CompiledRoute } from '../config/route-types.js'
import { bearerChallenges } from './bearer.js'
import type { PipelineContext, Stage } from './context.js'

/** True when every required scope is granted (exact, case-sensitive). */
export function hasAllScopes (granted: readonly string[], required: readonly string[]): boolean {
  for (let i = 0; i < required.length; i++) {
    if (!granted.includes(required[i]!)) return false
  }
  return true
}

/**
 * The route map's scope rule for one caller, shared by this stage and `routes replay`: null when
 * `scopes` (the verified token's; null without a token) satisfy the route, else the refusal reason.
 */
export function scopeRefusal (route: CompiledRoute, scopes: readonly string[] | null): 'token_missing' | 'scope_missing' | null {
  const required = route.scopes
  if (required.length === 0) return null
  // fail closed: the loader refuses scopes without auth: required, so no caller without a token gets here
  if (scopes === null) return 'token_missing'
  // RFC 6750 §3.1: insufficient_scope
  return hasAllScopes(scopes, required) ? null : 'scope_missing'
}

export function authorizeStage (opts: { realm: string }): Stage {
  const challenges = bearerChallenges(opts.realm)
  // the refusal of a route is the same every time: built on first use, per compiled route
  const refusals = new WeakMap<CompiledRoute, { challenge: string; scope: string }>()

  function insufficientScope (route: CompiledRoute): GatewayError {
    let r = refusals.get(route)
    // Stryker disable next-line ConditionalExpression: building the refusal again yields the same one (a memo only)
    if (r === undefined) {
      r = { challenge: challenges.insufficientScope(route.scopes), scope: route.scopes.join(' ') }
      refusals.set(route, r)
    }
    return new GatewayError('scope_missing', {
      detail: `needs ${r.scope}`,
      headers: { 'www-authenticate': r.challenge },
      extra: { scope: r.scope }
    })
  }

  return function authorize (ctx: PipelineContext): void {
    const route = ctx.route!
    const refusal = scopeRefusal(route, ctx.identity?.scopes ?? null)
    if (refusal === null) return
    // RFC 6750 §3.1: without credentials the challenge carries no error code
    if (refusal === 'token_missing') throw new GatewayError('token_missing', { headers: { 'www-authenticate': challenges.bare } })
    // RFC 6750 §3.1: insufficient_scope, with the scope the resource needs
    throw insufficientScope(route)
  }
}
