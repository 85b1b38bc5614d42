// Stage 1, match: canonicalise the request target once and find the route in the current
// route table (taken once per request, so a reload never changes a request mid-flight).
import type { RouteTable } from '../config/route-types.js'
import { GatewayError } from '../errors/gateway-error.js'
import { CLOSE } from '../http/connection.js'
import { canonicalize } from './canonical-path.js'
import type { PipelineContext, Stage } from './context.js'

export interface RouteSource {
  current(): RouteTable
}

export function matchStage (routes: RouteSource): Stage {
  return function match (ctx: PipelineContext): void {
    // Stryker disable next-line StringLiteral: any stand-in that is not origin-form is refused the same way
    const target = canonicalize(ctx.request.raw.url ?? '')
    if (!target.ok) {
      // an ambiguous target is a framing refusal: nothing after it on this connection runs (SECURITY.md S08)
      throw new GatewayError('bad_path', { detail: target.reason, headers: CLOSE })
    }
    ctx.path = target.path
    ctx.query = target.query
    const found = routes.current().lookup(ctx.request.raw.method ?? '', target.path)
    if (found.kind === 'not_found') throw new GatewayError('route_not_found')
    if (found.kind === 'method_not_allowed') {
      // RFC 9110 §15.5.6: a 405 MUST carry Allow
      throw new GatewayError('method_not_allowed', { headers: { allow: found.allow.join(', ') } })
    }
    ctx.route = found.route
    ctx.params = found.params
  }
}
