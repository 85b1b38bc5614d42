// Counts and times every request of the gateway app (the proxy port) into GatewayMetrics: one
// onResponse hook, added only when metrics are on. Per request: one counter child and one histogram
// child looked up in small maps (no label object, no per-request hashing by prom-client), plus the
// upstream histogram for forwarded requests.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Counter, Histogram } from 'prom-client'
import { refusalOf } from '../errors/handler.js'
import { NO_REASON, NO_ROUTE, type GatewayMetrics } from './metrics.js'

type CounterChild = ReturnType<Counter<string>['labels']>
type HistogramChild = ReturnType<Histogram<string>['labels']>

/** The series of one route label: its latency histogram and its counters by method, status and reason. */
interface RouteSeries {
  duration: HistogramChild
  counters: Map<string, CounterChild>
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
  const upstreams = new Map<string, HistogramChild>()

  function seriesOf (route: string): RouteSeries {
    let series = byRoute.get(route)
    if (series === undefined) {
      series = { duration: metrics.requestDuration.labels(route), counters: new Map() }
      byRoute.set(route, series)
    }
    return series
  }

  function count (series: RouteSeries, route: string, method: string, status: number, reason: string): void {
    const key = `${method} ${status} ${reason}`
    let counter = series.counters.get(key)
    if (counter === undefined) {
      counter = metrics.requests.labels(route, method, String(status), reason)
      series.counters.set(key, counter)
    }
    counter.inc()
  }

  function upstreamSeries (name: string): HistogramChild {
    let child = upstreams.get(name)
    if (child === undefined) {
      child = metrics.upstreamDuration.labels(name)
      upstreams.set(name, child)
    }
    return child
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
    if (reason === 'rate_limited') metrics.rateLimited.inc({ route })
    const forwardedAt = request.forwardedAtMs
    const upstream = request.pipeline?.route?.upstream
    if (forwardedAt >= 0 && upstream !== undefined) upstreamSeries(upstream.name).observe((elapsedMs - forwardedAt) / 1000)
    done()
  })
}
