// Stage 6, forward: stream the request to the route's upstream with @fastify/reply-from.
// The upstream receives exactly the canonical path the decision was made on, the gateway's
// identity headers (client copies stripped) and regenerated forwarding headers.
import type { FastifyReply } from 'fastify'
import { compile } from '@fastify/proxy-addr'
import type { IncomingHttpHeaders } from 'node:http'
import { GatewayError } from '../errors/gateway-error.js'
import { sendError } from '../errors/handler.js'
import type { FinalStage, PipelineContext } from './context.js'
import { setIdentityHeaders, stripReservedHeaders } from './identity-headers.js'
import { RATE_LIMIT_HEADERS } from './rate-limit.js'

/** RFC 9110 §7.6.1 hop-by-hop fields, plus h2c upgrade fields (security-catalogue P31). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'proxy-authorization', 'proxy-authenticate', 'http2-settings']

export interface ForwardOptions {
  /** Whether the request arrived over TLS at this process (x-forwarded-proto). */
  https?: boolean
  /** TRUST_PROXY: peers whose X-Forwarded-For / -Proto are kept (appended to); empty: none. */
  trustedProxies?: readonly string[]
}

/** Whether the socket peer is one of the TRUST_PROXY proxies (the same list Fastify's trustProxy uses). */
export type PeerTrust = (peer: string) => boolean

export function peerTrust (proxies: readonly string[] = []): PeerTrust {
  if (proxies.length === 0) return () => false
  const trusted = compile([...proxies])
  return (peer) => trusted(peer, 0)
}

export function upstreamHeaders (ctx: PipelineContext, incoming: IncomingHttpHeaders, opts: ForwardOptions, isTrusted: PeerTrust): IncomingHttpHeaders {
  const req = ctx.request
  // reply-from already removed `Connection` and every header it names (so a client cannot
  // strip what we add); drop the remaining hop-by-hop fields ourselves.
  const headers: IncomingHttpHeaders = { ...incoming }
  for (const h of HOP_BY_HOP) delete headers[h]
  // client-sent forwarding headers are read before stripping only when the peer is trusted
  const peer = req.socket.remoteAddress ?? ''
  const trustedPeer = isTrusted(peer)
  const priorXff = trustedPeer ? req.headers['x-forwarded-for'] : undefined
  const priorProto = trustedPeer ? req.headers['x-forwarded-proto'] : undefined
  stripReservedHeaders(headers)
  setIdentityHeaders(headers as Record<string, unknown>, ctx.identity)
  if (ctx.route !== null && !ctx.route.forwardToken) delete headers.authorization
  headers['x-forwarded-for'] = typeof priorXff === 'string' && priorXff !== '' ? `${priorXff}, ${peer}` : peer
  headers['x-forwarded-proto'] = typeof priorProto === 'string' ? priorProto : (opts.https === true ? 'https' : 'http')
  headers['x-forwarded-host'] = req.headers.host ?? ''
  headers['x-request-id'] = req.id
  return headers
}

/** The raw query minus every `access_token` parameter (however its name is percent-encoded). */
export function withoutAccessToken (query: string): string {
  return query.split('&').filter((part) => {
    const name = part.split('=', 1)[0]!
    try {
      return decodeURIComponent(name.replaceAll('+', ' ')) !== 'access_token'
    } catch {
      return true
    }
  }).join('&')
}

/** RFC 9110 §7.6.1 applies to responses too: the upstream's connection fields stay on its hop (H14). */
export function stripResponseHopByHop (headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const connection = headers.connection
  if (typeof connection === 'string') {
    for (const name of connection.split(',')) delete headers[name.trim().toLowerCase()]
  }
  for (const h of HOP_BY_HOP) delete headers[h]
  return headers
}

/** On a limited route the gateway's RateLimit-* headers are the truth, not the upstream's own. */
function stripResponseHopByHopAndLimits (headers: IncomingHttpHeaders): IncomingHttpHeaders {
  for (const name of RATE_LIMIT_HEADER_NAMES) delete headers[name]
  return stripResponseHopByHop(headers)
}
const RATE_LIMIT_HEADER_NAMES = Object.values(RATE_LIMIT_HEADERS)

export function forwardStage (opts: ForwardOptions = {}): FinalStage {
  const isTrusted = peerTrust(opts.trustedProxies)
  return function forward (ctx: PipelineContext): FastifyReply {
    const route = ctx.route!
    const up = route.upstream
    const reply = ctx.reply
    // the query string is appended by reply-from from the raw request URL, untouched, except that
    // an access_token parameter never travels further (RFC 6750 §5.3, RFC 9700 §4.3; catalogue J61)
    const query = ctx.query.includes('access_token') ? withoutAccessToken(ctx.query) : undefined
    return reply.from(up.origin + up.basePath + ctx.path, {
      timeout: up.timeoutMs,
      ...(query === undefined ? {} : { queryString: () => query }),
      rewriteRequestHeaders: (_req, headers) => upstreamHeaders(ctx, headers, opts, isTrusted),
      rewriteHeaders: route.rateLimit === null ? stripResponseHopByHop : stripResponseHopByHopAndLimits,
      onError: (r, { error }) => {
        const { code, statusCode } = error as { code?: string; statusCode?: number }
        const timedOut = statusCode === 504 || (code?.includes('TIMEOUT') ?? false)
        const ge = new GatewayError(timedOut ? 'upstream_timeout' : 'upstream_unreachable', {
          cause: error, detail: `${up.name}: ${code ?? 'error'}`
        })
        r.request.log.warn({ reason: ge.code, upstream: up.name, route: route.id, cause: code }, 'upstream failed')
        sendError(r as FastifyReply, ge)
      }
    }) as FastifyReply
  }
}
