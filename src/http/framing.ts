// Framing the HTTP parser lets through, refused for every route (the gateway's own endpoints too)
// in the first onRequest hook. Every refusal here is 400 with `Connection: close` (RFC 9112 §9.6):
// after a request whose framing was ambiguous nothing else on that connection is executed
// (SECURITY.md S08, src/http/connection.ts).
import type { IncomingMessage } from 'node:http'
import { isIPv6 } from 'node:net'
import { GatewayError } from '../errors/gateway-error.js'
import { CLOSE } from './connection.js'

/**
 * RFC 3986 §3.2.2 reg-name or IPv4address (*( unreserved / pct-encoded / sub-delims )), then an
 * optional §3.2.3 `":" port`. IP literals are checked separately.
 */
const REG_NAME_AND_PORT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*(?::[0-9]*)?$/
/** RFC 3986 §3.2.2 IP-literal = "[" ( IPv6address / IPvFuture ) "]", then an optional port. */
const IP_LITERAL_AND_PORT = /^\[([^\]]*)\](?::[0-9]*)?$/
const IPV_FUTURE = /^[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/

/** RFC 9112 §3.2 / RFC 9110 §7.2: Host = uri-host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3). Empty is allowed. */
export function isValidHost (value: string): boolean {
  if (value.charCodeAt(0) === 91 /* [ */) {
    const m = IP_LITERAL_AND_PORT.exec(value)
    return m !== null && (isIPv6(m[1]!) || IPV_FUTURE.test(m[1]!))
  }
  return REG_NAME_AND_PORT.test(value)
}

function refuse (description: string | undefined, detail: string): GatewayError {
  return new GatewayError('bad_request', { headers: CLOSE, detail, ...(description === undefined ? {} : { description }) })
}

/** Throws a 400 GatewayError (with Connection: close) for a request whose framing is refused. */
export function checkFraming (raw: IncomingMessage): void {
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing (SECURITY.md S02)
  if (raw.httpVersion === '1.0' && raw.headers['transfer-encoding'] !== undefined) {
    throw refuse(undefined, 'transfer-encoding in HTTP/1.0')
  }
  // RFC 9112 §3.2: a request with more than one Host field MUST get 400 (SECURITY.md P19)
  const headers = raw.rawHeaders
  let hosts = 0
  let host = ''
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length === 4 && headers[i]!.toLowerCase() === 'host') {
      hosts++
      host = headers[i + 1]!
    }
  }
  if (hosts > 1) throw refuse('More than one Host header', 'duplicate Host')
  // RFC 9112 §3.2: a Host field with an invalid value MUST get 400 (SECURITY.md P22); it would
  // otherwise travel on as X-Forwarded-Host
  if (hosts === 1 && !isValidHost(host)) throw refuse('Invalid Host header', 'invalid Host')
}
