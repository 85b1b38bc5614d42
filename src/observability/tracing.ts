// Tracing through OpenTelemetry, with W3C Trace Context (traceparent, tracestate) continued from the
// client and sent on to the upstream. Off unless an OTLP endpoint is configured: then the SDK is
// never loaded (tracing-sdk.ts is imported lazily) and each hook in the request path is one null
// check on `request.trace`. Export is batched and asynchronous: a slow or dead collector never
// holds a request.
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Config } from '../config/env.js'
import { routeLabel } from '../pipeline/context.js'

/** How one request ended, as the request span records it. */
export interface RequestOutcome {
  /** Route-map id, or the gateway endpoint's own path; null when nothing matched. */
  route: string | null
  /** The status sent; null when the connection closed before the response finished. */
  status: number | null
  /** The refusal's reason id (`token_missing`, `upstream_unreachable` ...); null when not refused. */
  reason: string | null
}

/** The spans of one request: the request span, one per pipeline stage, one for the upstream call. */
export interface RequestTrace {
  /** The trace id (32 hex digits): the client's when it sent a valid traceparent. */
  readonly traceId: string
  /** Ends the open stage span, then opens one named `name` (null: none). */
  stage (name: string | null): void
  /**
   * Opens the upstream client span and writes its traceparent (and the trace's tracestate) into
   * `headers`, replacing whatever the client sent: the upstream's parent is this span.
   */
  upstream (name: string, method: string, headers: Record<string, unknown>): void
  /** Ends every open span; idempotent. */
  end (outcome: RequestOutcome): void
}

export interface Tracing {
  /** Starts the request span, continuing the client's traceparent when it is valid. */
  start (method: string, headers: IncomingHttpHeaders): RequestTrace
  /** Exports every ended span now. */
  forceFlush (): Promise<void>
  /** Exports what is left and stops, within a bound (a dead collector never blocks shutdown). */
  shutdown (): Promise<void>
}

/** Where traces go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, else OTEL_EXPORTER_OTLP_ENDPOINT + v1/traces; null: tracing off. */
export function tracesEndpoint (config: Readonly<Config>): string | null {
  if (config.OTEL_SDK_DISABLED === 'true') return null
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT
  if (base === undefined) return null
  return `${base.endsWith('/') ? base : `${base}/`}v1/traces`
}

/** The tracer of an app, or null when tracing is off (and then nothing of the SDK is loaded). */
export async function createTracing (config: Readonly<Config>, log: FastifyBaseLogger): Promise<Tracing | null> {
  const url = tracesEndpoint(config)
  if (url === null) return null
  const { startSdk } = await import('./tracing-sdk.js')
  return startSdk(config, url, log)
}

/**
 * Gives every request its trace (request.trace), ends it when the response is done or the
 * connection closes, and shuts the tracer down when the app closes. Register before any other
 * onRequest hook, so a request refused there still has its span.
 */
export function traceRequests (app: FastifyInstance, tracing: Tracing): void {
  app.addHook('onRequest', (request, reply, done) => {
    const trace = tracing.start(request.method, request.headers)
    request.trace = trace
    const res = reply.raw
    res.once('close', () => {
      trace.end({ route: routeLabel(request), status: res.writableFinished ? reply.statusCode : null, reason: request.refusal })
    })
    done()
  })
  app.addHook('onClose', async () => { await tracing.shutdown() })
}

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's spans; null when tracing is off. */
    trace: RequestTrace | null
  }
  interface FastifyInstance {
    /** The app's tracer; null when tracing is off. */
    tracing: Tracing | null
  }
}
