// Counts and times every request of the gateway app (the proxy port) into GatewayMetrics: one
// onResponse hook, added only when metrics are on. Per request: a counter cell and a histogram cell
// found in small nested maps (no label object, no string built, no hashing), plus the upstream
// histogram for forwarded requests; the numbers reach prom-client at scrape time (series.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { refusalOf } from '../errors/handler.js'
import { NO_REASON, NO_ROUTE, type GatewayMetrics } from './metrics.js'
import type { CounterCell, HistogramCell } from './series.js'

/** The cells of one route label: its latency histogram, its counters by method → status → reason, its 429s. */
interface RouteSeries {
  duration: HistogramCell
  counters: Map<string, Map<number, Map<string, CounterCell>>>
  rateLimited: CounterCell | null
}

/**
 * The route label: the matched route's id; `none` for a proxied request no route matched (so a
 * million distinct paths make one series); the gateway's own endpoints by their fixed URL.
 */
function routeLabel (request: FastifyRequest): string {
  const ctx = request.pipeline
  if (ctx !== null) return ctx.route?.id ?? NO_ROUTE
  return request.routeOptions.url ?? NO_ROUTE
}

export function instrumentApp (app: FastifyInstance, metrics: GatewayMetrics): void {
  const byRoute = new Map<string, RouteSeries>()
  const upstreams = new Map<string, HistogramCell>()

  // lookups first, creation only on a label set's first request (no closure or string per request)
  function seriesOf (route: string): RouteSeries {
    let series = byRoute.get(route)
    if (series === undefined) {
      series = { duration: metrics.requestDuration.cell(route), counters: new Map(), rateLimited: null }
      byRoute.set(route, series)
    }
    return series
  }

  function count (series: RouteSeries, route: string, method: string, status: number, reason: string): void {
    let byStatus = series.counters.get(method)
    if (byStatus === undefined) series.counters.set(method, byStatus = new Map())
    let byReason = byStatus.get(status)
    if (byReason === undefined) byStatus.set(status, byReason = new Map())
    let cell = byReason.get(reason)
    if (cell === undefined) byReason.set(reason, cell = metrics.requests.cell(route, method, String(status), reason))
    cell.inc()
  }

  function upstreamCell (name: string): HistogramCell {
    let cell = upstreams.get(name)
    if (cell === undefined) upstreams.set(name, cell = metrics.upstreamDuration.cell(name))
    return cell
  }

  app.decorateRequest('forwardedAtMs', -1)
  // callback style: no promise per request
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const route = routeLabel(request)
    const elapsedMs = reply.elapsedTime
    const reason = refusalOf(reply) ?? NO_REASON
    const series = seriesOf(route)
    count(series, route, request.method, reply.statusCode, reason)
    series.duration.observe(elapsedMs / 1000)
    if (reason === 'rate_limited') (series.rateLimited ??= metrics.rateLimited.cell(route)).inc()
    const forwardedAt = request.forwardedAtMs
    const upstream = request.pipeline?.route?.upstream
    if (forwardedAt >= 0 && upstream !== undefined) upstreamCell(upstream.name).observe((elapsedMs - forwardedAt) / 1000)
    done()
  })
}
