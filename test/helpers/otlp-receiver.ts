// A real OTLP/HTTP traces receiver on a loopback port: accepts POST /v1/traces, decodes the JSON
// encoding (OTLP `http/json`: ids as hex, kinds and status codes as numbers) and records every span.
// Protobuf bodies (`http/protobuf`) are kept raw. `hang: true` makes it read requests and never answer
// (a collector that is up but stuck).
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One received span, flattened: attributes as a plain record. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number
  startTimeUnixNano: string
  attributes: Record<string, string | number | boolean>
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: { code: number, message?: string }
  /** `service.name` of the resource the span came with. */
  service: string
}

export interface ExportRequest { contentType: string, body: Buffer, closedEarly: boolean }

export interface OtlpReceiver {
  url: string
  spans: ReceivedSpan[]
  requests: ExportRequest[]
  close(): Promise<void>
}

interface OtlpValue { stringValue?: string, intValue?: string | number, boolValue?: boolean, doubleValue?: number }
interface OtlpAttribute { key: string, value: OtlpValue }
interface OtlpSpan {
  traceId: string, spanId: string, parentSpanId?: string, name: string, kind: number, startTimeUnixNano: string
  attributes?: OtlpAttribute[], status?: { code?: number, message?: string }
}
interface OtlpBody { resourceSpans: Array<{ resource?: { attributes?: OtlpAttribute[] }, scopeSpans: Array<{ spans: OtlpSpan[] }> }> }

function plain (v: OtlpValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.boolValue !== undefined) return v.boolValue
  return v.doubleValue ?? ''
}

function record (attrs: OtlpAttribute[] = []): Record<string, string | number | boolean> {
  return Object.fromEntries(attrs.map((a) => [a.key, plain(a.value)]))
}

function readBody (req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

export async function startOtlpReceiver (opts: { hang?: boolean } = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const requests: ExportRequest[] = []
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req)
      const entry: ExportRequest = { contentType: req.headers['content-type'] ?? '', body, closedEarly: false }
      requests.push(entry)
      if (opts.hang === true) {
        // never answered: the exporter gives up (its timeout) or the gateway stops waiting for it
        res.once('close', () => { entry.closedEarly = true })
        return
      }
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end()
        return
      }
      if (entry.contentType.startsWith('application/json')) {
        const decoded = JSON.parse(body.toString('utf8')) as OtlpBody
        for (const rs of decoded.resourceSpans) {
          const service = String(record(rs.resource?.attributes)['service.name'] ?? '')
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              spans.push({
                traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, kind: s.kind,
                startTimeUnixNano: String(s.startTimeUnixNano), attributes: record(s.attributes),
                status: { code: s.status?.code ?? 0, ...(s.status?.message !== undefined && { message: s.status.message }) },
                service
              })
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': entry.contentType }).end(entry.contentType.startsWith('application/json') ? '{}' : '')
    })()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
