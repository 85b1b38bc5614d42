// The gateway's Prometheus metrics (prom-client), one Registry per gateway instance (never the
// global one: two gateways in one process keep separate counts). Built only when the admin listener
// is on (ADMIN_PORT ≠ 0); with it off nothing here exists and nothing is measured.
//
// Labels are route ids, upstream names, grant types and error codes: sets bounded by the route map
// and the code, never a raw path (an unmatched request is `route="none"`).
// Values that are state, not events (store up, feed lag, token-cache counts, the route-map version)
// are read when /metrics is scraped, so the hot path pays nothing for them.
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import type { ReloadOutcome } from '../config/route-watcher.js'
import type { PipelineContext } from '../pipeline/context.js'
import type { RouteSource } from '../pipeline/match.js'
import type { PipelineObserver } from '../pipeline/observer.js'
import type { TokenCache } from '../pipeline/token-cache.js'
import type { TokenObserver } from '../oauth/token-endpoint.js'
import type { RevocationReplica } from '../revocation/replica.js'
import { CounterSeries, HistogramSeries, type CounterCell, type HistogramCell } from './series.js'
import type { Store, StoreObserver } from '../store/types.js'

/** Request latency buckets (seconds): 1 ms to 10 s. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Redis command buckets (seconds): 0.25 ms to 1 s (REDIS_TIMEOUT's default). */
const REDIS_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

/** The route label of a request no route matched. */
export const NO_ROUTE = 'none'
/** The reason label of a response that was not a refusal. */
export const NO_REASON = 'none'

/** A source of the route map that may also report reloads (the RouteWatcher). */
export interface ObservedRoutes extends RouteSource {
  onReload?(listener: (outcome: ReloadOutcome) => void): () => void
}

declare module 'fastify' {
  interface FastifyRequest {
    /** reply.elapsedTime (ms) when forwarding began; -1 when not forwarded. Only with metrics on. */
    forwardedAtMs: number
  }
}

export class GatewayMetrics implements PipelineObserver, StoreObserver, TokenObserver {
  readonly registry = new Registry()
  readonly requests: CounterSeries
  readonly requestDuration: HistogramSeries
  readonly upstreamDuration: HistogramSeries
  readonly pipelineDuration: HistogramCell
  readonly rateLimited: CounterSeries
  readonly redisDuration: HistogramCell
  readonly redisErrors: CounterCell
  readonly tokenRequests: Counter<'grant' | 'outcome'>
  readonly reloads: Counter<'outcome'>
  /** Read at scrape time (attach()): the pipeline's parts. */
  tokenCache: TokenCache | null = null
  revocations: RevocationReplica | null = null
  #store: Store | null = null
  #routes: ObservedRoutes | null = null
  #unwatch: (() => void) | null = null

  constructor () {
    const registers = [this.registry]
    // the event-loop delay sampled every 100 ms, not every 10 ms (bench/README.md "(e) metrics cost")
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 })
    // the series written per request or per Redis command: plain numbers (series.ts)
    this.requests = this.#own(new CounterSeries('portcullis_http_requests_total',
      'Requests answered, by route id (none: unmatched), method, status and refusal reason (none: not refused)', ['route', 'method', 'status', 'reason']))
    this.requestDuration = this.#own(new HistogramSeries('portcullis_http_request_duration_seconds',
      'Time from the request to the end of its response, by route id', ['route'], HTTP_BUCKETS))
    this.upstreamDuration = this.#own(new HistogramSeries('portcullis_upstream_duration_seconds',
      'Time from handing a request to its upstream to the end of the response, by upstream name', ['upstream'], HTTP_BUCKETS))
    this.pipelineDuration = this.#own(new HistogramSeries('portcullis_pipeline_duration_seconds',
      'Time spent before forwarding (match, authenticate, check-revocation, authorize, rate-limit)', [], HTTP_BUCKETS)).cell()
    this.rateLimited = this.#own(new CounterSeries('portcullis_rate_limited_total', 'Requests refused by a route rate limit (429)', ['route']))
    this.redisDuration = this.#own(new HistogramSeries('portcullis_redis_command_duration_seconds', 'Redis command latency', [], REDIS_BUCKETS)).cell()
    this.redisErrors = this.#own(new CounterSeries('portcullis_redis_errors_total', 'Redis commands that failed or got no answer within REDIS_TIMEOUT', [])).cell()
    this.tokenRequests = new Counter({
      name: 'portcullis_token_requests_total', help: 'Token endpoint requests by grant type and outcome (issued, or the RFC 6749 error)',
      labelNames: ['grant', 'outcome'], registers
    })
    this.reloads = new Counter({ name: 'portcullis_route_map_reloads_total', help: 'Route map reloads by outcome (success, rejected, failed)', labelNames: ['outcome'], registers })
    for (const outcome of ['success', 'rejected', 'failed']) this.reloads.inc({ outcome }, 0)
    const self = this // collect() runs with `this` bound to the metric
    new Gauge({
      name: 'portcullis_store_up', help: '1 when the store answers a ping at scrape time, else 0', registers,
      async collect () {
        const store = self.#store
        if (store === null) return
        this.set(await store.ping().then(() => 1, () => 0))
      }
    })
    new Counter({
      name: 'portcullis_token_cache_hits_total', help: 'Access tokens found in the verified-token cache (signature check skipped)', registers,
      collect () { this.reset(); this.inc(self.tokenCache?.hits ?? 0) }
    })
    new Counter({
      name: 'portcullis_token_cache_misses_total', help: 'Access tokens not in the verified-token cache (fully verified)', registers,
      collect () { this.reset(); this.inc(self.tokenCache?.misses ?? 0) }
    })
    new Gauge({
      name: 'portcullis_revocation_feed_lag_seconds', help: 'REVOCATION_MODE=replicated: seconds since the feed last proved the local view current; 0 when every check reads the store', registers,
      collect () { this.set(self.revocations?.feedLagSeconds() ?? 0) }
    })
    new Gauge({
      name: 'portcullis_route_map_info', help: 'The running route map: one series, labelled with its version', labelNames: ['version'], registers,
      collect () {
        this.reset()
        const routes = self.#routes
        if (routes !== null) this.set({ version: routes.current().version }, 1)
      }
    })
  }

  /** The store and route map whose state is read at scrape time; route-map reloads are counted. */
  watch (store: Store, routes: ObservedRoutes): void {
    this.#store = store
    this.#routes = routes
    this.#unwatch?.()
    this.#unwatch = routes.onReload?.((outcome) => { this.reloads.inc({ outcome }) }) ?? null
  }

  /** Stops counting reloads (the gateway closes). */
  close (): void {
    this.#unwatch?.()
    this.#unwatch = null
  }

  /** Registers one of our series with the Registry, which reads it at scrape time like its own metrics. */
  #own<S extends CounterSeries | HistogramSeries> (series: S): S {
    this.registry.registerMetric(series as unknown as Metric)
    return series
  }

  // PipelineObserver

  attach (parts: { tokenCache: TokenCache | null, revocations: RevocationReplica | null }): void {
    this.tokenCache = parts.tokenCache
    this.revocations = parts.revocations
  }

  forwarding (ctx: PipelineContext): void {
    const ms = ctx.reply.elapsedTime
    ctx.request.forwardedAtMs = ms
    this.pipelineDuration.observe(ms / 1000)
  }

  // StoreObserver

  command (seconds: number, failed: boolean): void {
    this.redisDuration.observe(seconds)
    if (failed) this.redisErrors.inc()
  }

  // TokenObserver

  tokenRequest (grant: string, outcome: string): void {
    this.tokenRequests.inc({ grant, outcome })
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  async scrape (): Promise<{ contentType: string, body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
