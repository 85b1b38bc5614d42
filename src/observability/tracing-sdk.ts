// The OpenTelemetry SDK behind tracing.ts, loaded only when tracing is on. Each app gets its own
// tracer provider, and contexts are passed explicitly: nothing is registered globally (no global
// tracer provider, propagator or context manager), so two apps in one process never share spans.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, defaultTextMapSetter, trace, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core'
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources'
import {
  AlwaysOffSampler, AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler,
  type ReadableSpan, type Sampler, type SpanExporter
} from '@opentelemetry/sdk-trace-base'
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config/env.js'
import type { RequestOutcome, RequestTrace, Tracing } from './tracing.js'

/** Longest a close waits for the last export: a dead collector never blocks shutdown. */
export const SHUTDOWN_BOUND_MS = 2000

/** Span attributes named like the log fields (`route`, `reason`, `upstream`). */
const ATTR_ROUTE = 'portcullis.route'
const ATTR_REASON = 'portcullis.reason'
const ATTR_UPSTREAM = 'portcullis.upstream'

/** W3C Trace Context: traceparent and tracestate, read from the client and written for the upstream. */
const propagator = new W3CTraceContextPropagator()

/** OTEL_TRACES_SAMPLER and its ratio (OTEL_TRACES_SAMPLER_ARG, default 1). */
function samplerFor (config: Readonly<Config>): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(Number(config.OTEL_TRACES_SAMPLER_ARG ?? '1'))
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on': return new AlwaysOnSampler()
    case 'always_off': return new AlwaysOffSampler()
    case 'traceidratio': return ratio()
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() })
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: ratio() })
    case 'parentbased_always_on': return new ParentBasedSampler({ root: new AlwaysOnSampler() })
  }
}

/** `service.name`: OTEL_SERVICE_NAME, else the one in OTEL_RESOURCE_ATTRIBUTES, else portcullis. */
function resourceFor (config: Readonly<Config>) {
  const fromEnv = detectResources({ detectors: [envDetector] })
  const named = config.OTEL_SERVICE_NAME ?? fromEnv.attributes[ATTR_SERVICE_NAME] ?? 'portcullis'
  return defaultResource().merge(fromEnv).merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: String(named) }))
}

/**
 * The OTLP exporter for the configured encoding (http/protobuf by default); the exporter reads the
 * other standard variables itself (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, certificates).
 * A failed export is logged once, and once more when exports work again; never its headers.
 */
async function exporterFor (config: Readonly<Config>, url: string, logged: string, log: FastifyBaseLogger): Promise<SpanExporter> {
  const protocol = config.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? config.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf'
  const inner: SpanExporter = protocol === 'http/json'
    ? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url })
    : new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter({ url })
  let failing = false
  return {
    export (spans: ReadableSpan[], done: (result: ExportResult) => void): void {
      inner.export(spans, (result) => {
        const failed = result.code !== ExportResultCode.SUCCESS
        if (failed && !failing) log.warn({ url: logged, cause: result.error?.message, spans: spans.length }, 'trace export failed')
        if (!failed && failing) log.info({ url: logged }, 'trace export works again')
        failing = failed
        done(result)
      })
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve()
  }
}

function within (ms: number, work: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    timer.unref()
    work.catch(() => {}).finally(() => { clearTimeout(timer); resolve() })
  })
}

/** The collector URL as logged: without any user or password in it. */
function shown (url: string): string {
  const u = new URL(url)
  u.username = ''
  u.password = ''
  return u.href
}

export async function startSdk (config: Readonly<Config>, url: string, log: FastifyBaseLogger): Promise<Tracing> {
  const provider = new BasicTracerProvider({
    resource: resourceFor(config),
    sampler: samplerFor(config),
    // OTEL_BSP_* (queue size, batch size, delay, export timeout) are read by the processor itself
    spanProcessors: [new BatchSpanProcessor(await exporterFor(config, url, shown(url), log))]
  })
  const tracer = provider.getTracer('portcullis')
  let closed: Promise<void> | undefined
  log.info({ url: shown(url), sampler: config.OTEL_TRACES_SAMPLER }, 'tracing on')
  return {
    start: (method, headers) => new RequestSpans(tracer, method, headers),
    forceFlush: () => provider.forceFlush(),
    shutdown: () => {
      closed ??= within(SHUTDOWN_BOUND_MS, provider.shutdown())
      return closed
    }
  }
}

class RequestSpans implements RequestTrace {
  readonly traceId: string
  readonly #tracer: Tracer
  readonly #method: string
  readonly #request: Span
  /** Parent of the stage and upstream spans. */
  readonly #parent: Context
  #stage: Span | null = null
  #upstream: Span | null = null
  #ended = false

  constructor (tracer: Tracer, method: string, headers: IncomingHttpHeaders) {
    this.#tracer = tracer
    this.#method = method
    // a malformed traceparent is ignored: the request starts a new trace
    const client = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter)
    // named `METHOD route` once the route is known (end); never the path or its query string
    this.#request = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method } }, client)
    this.#parent = trace.setSpan(ROOT_CONTEXT, this.#request)
    this.traceId = this.#request.spanContext().traceId
  }

  stage (name: string | null): void {
    this.#stage?.end()
    this.#stage = name === null ? null : this.#tracer.startSpan(name, { kind: SpanKind.INTERNAL }, this.#parent)
  }

  upstream (name: string, method: string, headers: Record<string, unknown>): void {
    this.stage(null)
    const span = this.#tracer.startSpan(`${method} ${name}`, {
      kind: SpanKind.CLIENT, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_UPSTREAM]: name }
    }, this.#parent)
    this.#upstream = span
    // the client's own traceparent/tracestate never reach the upstream: inject overwrites traceparent,
    // and writes tracestate only when the trace has one (a client's beside a malformed traceparent is dropped)
    delete headers.tracestate
    propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter)
  }

  end ({ route, status, reason }: RequestOutcome): void {
    if (this.#ended) return
    this.#ended = true
    const request = this.#request
    const open = this.#stage ?? this.#upstream
    if (open !== null && reason !== null) {
      // the stage that refused, or the upstream call that failed
      open.setAttribute(ATTR_REASON, reason)
      open.setStatus({ code: SpanStatusCode.ERROR, message: reason })
    } else if (this.#upstream !== null && status !== null) {
      this.#upstream.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status)
      // client spans: any 4xx or 5xx from the upstream is an error
      if (status >= 400) this.#upstream.setStatus({ code: SpanStatusCode.ERROR })
    }
    this.#stage?.end()
    this.#upstream?.end()
    if (route !== null) {
      // `METHOD path` (route ids already begin with their method list: `GET,HEAD /orders/*`)
      request.updateName(`${this.#method} ${route.replace(/^[A-Z]+(?:,[A-Z]+)* /, '')}`)
      request.setAttribute(ATTR_ROUTE, route)
    }
    if (reason !== null) request.setAttribute(ATTR_REASON, reason)
    if (status !== null) request.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status)
    else request.setAttribute('portcullis.aborted', true)
    // server spans: only a 5xx or an aborted response is an error, not a refusal
    if (status === null || status >= 500) request.setStatus({ code: SpanStatusCode.ERROR, ...(reason !== null && { message: reason }) })
    request.end()
  }
}
