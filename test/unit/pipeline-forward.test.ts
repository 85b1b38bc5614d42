// What the upstream receives, as pure logic (no sockets): strip, then set (SECURITY.md H01–H10,
// P24, P25), hop-by-hop fields (RFC 9110 §7.6.1; P31, H14), forwarding headers (RFC 7239; H09),
// the access_token query parameter (RFC 6750 §5.3, RFC 9700 §4.3; J61), body limits (F17) and
// upstream failures. End to end: test/security/headers.test.ts, test/integration/forwarding.test.ts.
import t from 'tap'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { IncomingHttpHeaders } from 'node:http'
import { PassThrough } from 'node:stream'
import type { CompiledRoute } from '../../src/config/route-types.js'
import { GatewayError } from '../../src/errors/gateway-error.js'
import type { Identity, PipelineContext } from '../../src/pipeline/context.js'
import { forwardStage, peerTrust, stripResponseHopByHop, upstreamHeaders, withoutAccessToken, type ForwardOptions } from '../../src/pipeline/forward.js'
import type { UpstreamResponse } from '../../src/pipeline/forward-response.js'
import { IDENTITY_HEADERS, isReservedHeader, setIdentityHeaders, stripReservedHeaders } from '../../src/pipeline/identity-headers.js'

const alice: Identity = {
  subject: 'alice', subjectType: 'user', clientId: 'web', scopes: ['read', 'write'], tokenId: 'j1', sessionId: 's1', issuedAt: 0, expiresAt: 0
}

function route (over: Partial<CompiledRoute> = {}): CompiledRoute {
  return {
    id: 'GET /x/*', path: '/x/*', methods: ['GET'], auth: 'required', scopes: [], rateLimit: null, forwardToken: true,
    upstream: { name: 'orders', origin: 'http://127.0.0.1:9001', basePath: '/base', timeoutMs: 1234 },
    ...over
  }
}

function context (over: { headers?: IncomingHttpHeaders, peer?: string, identity?: Identity | null, route?: CompiledRoute | null, query?: string, body?: unknown } = {}): PipelineContext {
  const request = {
    id: 'req-1',
    headers: over.headers ?? {},
    socket: { remoteAddress: over.peer ?? '198.51.100.9' },
    body: over.body,
    trace: null // tracing off (src/observability/tracing.ts)
  }
  return {
    request: request as unknown as FastifyRequest,
    reply: {} as FastifyReply,
    path: '/x/1',
    query: over.query ?? '',
    route: over.route === undefined ? route() : over.route,
    params: {},
    identity: over.identity === undefined ? alice : over.identity,
    stage: 'forward'
  }
}

// --- identity headers -------------------------------------------------------------------------

t.test('H01–H10, P24, P25: every header name only the gateway may write is reserved, also with `_` for `-` (H03)', async (t) => {
  const exact = ['forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip', 'cf-connecting-ip',
    'x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-original-method',
    'x-http-method-override', 'x-http-method', 'x-method-override']
  const prefixed = ['x-auth-subject', 'x-auth-anything', 'x-forwarded-for', 'x-forwarded-host', 'x-envoy-original-path', 'x-user-id', 'x-gateway-role']
  for (const name of [...exact, ...prefixed]) {
    t.ok(isReservedHeader(name), name)
    t.ok(isReservedHeader(name.replaceAll('-', '_')), name.replaceAll('-', '_'))
  }
  // H03: names are compared folded (lower case, letters and digits only), so these fold onto a
  // reserved name (`xrealip`) or prefix (`xauth`, `xforwarded`, `xuser`) and are reserved too
  for (const name of ['x-realip', 'x-auth', 'x-forwarded', 'x-users', 'X.Auth.Subject', 'x~auth-subject', 'XAuthSubject']) {
    t.ok(isReservedHeader(name), name)
  }
  for (const name of ['authorization', 'x-request-id', 'xx-auth-subject', 'user-agent', 'forwarded-for', 'x-http-methods']) {
    t.notOk(isReservedHeader(name), name)
  }
})

t.test('strip: reserved headers go whatever their case; others stay (STYLE.md §7, H02)', async (t) => {
  const headers: Record<string, unknown> = { 'X-Auth-Subject': 'admin', x_auth_scopes: 'admin', Forwarded: 'for=1.2.3.4', accept: 'a', 'X-Trace': 't' }
  stripReservedHeaders(headers)
  t.same(headers, { accept: 'a', 'X-Trace': 't' })
})

t.test('set: the identity of the verified token, nothing for an anonymous request', async (t) => {
  const headers: Record<string, unknown> = {}
  setIdentityHeaders(headers, alice)
  t.same(headers, { 'x-auth-subject': 'alice', 'x-auth-subject-type': 'user', 'x-auth-client-id': 'web', 'x-auth-scopes': 'read write', 'x-auth-token-id': 'j1', 'x-auth-token-type': 'Bearer' })
  t.same(IDENTITY_HEADERS, { subject: 'x-auth-subject', subjectType: 'x-auth-subject-type', clientId: 'x-auth-client-id', scopes: 'x-auth-scopes', tokenId: 'x-auth-token-id', tokenType: 'x-auth-token-type' })
  const bound: Record<string, unknown> = {}
  setIdentityHeaders(bound, { ...alice, dpopJkt: 'thumbprint' })
  t.equal(bound['x-auth-token-type'], 'DPoP', 'RFC 9449: a DPoP-bound token is typed DPoP for the upstream')
  const none: Record<string, unknown> = {}
  setIdentityHeaders(none, null)
  t.same(none, {})
})

// --- upstream request headers -----------------------------------------------------------------

const untrusted = peerTrust([])

t.test('RFC 9110 §7.6.1 (P31): hop-by-hop and h2c upgrade fields, and Expect, never reach the upstream', async (t) => {
  const hop = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'http2-settings', 'expect']
  const incoming: IncomingHttpHeaders = { accept: 'application/json', 'x-trace': 't1' }
  for (const h of hop) incoming[h] = 'x'
  const out = upstreamHeaders(context({ headers: { host: 'gw.example' } }), incoming, {}, untrusted)
  for (const h of hop) t.notOk(h in out, h)
  t.equal(out.accept, 'application/json')
  t.equal(out['x-trace'], 't1')
  t.equal(incoming.connection, 'x', 'the incoming object is not modified')
})

t.test('strip, then set: client identity headers replaced by the verified identity (H01, H03)', async (t) => {
  const incoming: IncomingHttpHeaders = { 'x-auth-subject': 'root', 'x-auth-scopes': 'admin', x_auth_client_id: 'evil', 'x-user-id': '0', authorization: 'Bearer t' }
  const out = upstreamHeaders(context(), incoming, {}, untrusted)
  t.match(out, { 'x-auth-subject': 'alice', 'x-auth-subject-type': 'user', 'x-auth-client-id': 'web', 'x-auth-scopes': 'read write', 'x-auth-token-id': 'j1', 'x-auth-token-type': 'Bearer', authorization: 'Bearer t' })
  t.notOk('x_auth_client_id' in out)
  t.notOk('x-user-id' in out)
  const anonymous = upstreamHeaders(context({ identity: null }), { 'x-auth-subject': 'root' }, {}, untrusted)
  t.notOk('x-auth-subject' in anonymous, 'an anonymous request carries no identity at all')
})

t.test('forward_token: false keeps the Authorization header from the upstream; the default forwards it', async (t) => {
  t.notOk('authorization' in upstreamHeaders(context({ route: route({ forwardToken: false }) }), { authorization: 'Bearer t' }, {}, untrusted))
  t.equal(upstreamHeaders(context({ route: route({ forwardToken: true }) }), { authorization: 'Bearer t' }, {}, untrusted).authorization, 'Bearer t')
})

t.test('RFC 7239 / H09: forwarding headers are regenerated; a client\'s are kept only from a trusted proxy', async (t) => {
  const sent: IncomingHttpHeaders = { 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil', host: 'gw.example' }
  const direct = upstreamHeaders(context({ headers: sent, peer: '198.51.100.9' }), { ...sent }, {}, untrusted)
  t.match(direct, { 'x-forwarded-for': '198.51.100.9', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'gw.example', 'x-request-id': 'req-1' })
  t.equal(direct['x-forwarded-proto'], 'http', 'plain HTTP at this process (exactly)')
  t.equal(upstreamHeaders(context({ headers: sent }), { ...sent }, { https: true }, untrusted)['x-forwarded-proto'], 'https', 'TLS at this process')
  const trust = peerTrust(['198.51.100.0/24'])
  t.ok(trust('198.51.100.9'))
  t.notOk(trust('203.0.113.1'))
  const viaProxy = upstreamHeaders(context({ headers: sent, peer: '198.51.100.9' }), { ...sent }, {}, trust)
  t.match(viaProxy, { 'x-forwarded-for': '10.0.0.1, 198.51.100.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'gw.example' })
  const emptyChain = upstreamHeaders(context({ headers: { 'x-forwarded-for': '' }, peer: '198.51.100.9' }), {}, {}, trust)
  t.equal(emptyChain['x-forwarded-for'], '198.51.100.9', 'an empty chain from a trusted proxy is not kept as ", peer"')
  t.equal(emptyChain['x-forwarded-host'], '', 'no Host: empty')
  const untrustedPeer = upstreamHeaders(context({ headers: sent, peer: '203.0.113.1' }), { ...sent }, {}, trust)
  t.match(untrustedPeer, { 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'http' })
  const noSocket = { ...context(), request: { id: 'r', headers: {}, socket: {} } as unknown as FastifyRequest }
  t.equal(upstreamHeaders(noSocket, {}, {}, untrusted)['x-forwarded-for'], '', 'no peer address: empty, never a client value')
})

t.test('RFC 6750 §5.3 / J61: every access_token query parameter is removed, however encoded', async (t) => {
  const rows: Array<[string, string]> = [
    ['access_token=x', ''],
    ['a=1&access_token=x&b=2', 'a=1&b=2'],
    ['acc%65ss_token=x&b=2', 'b=2'],
    ['access%5Ftoken=x', ''],
    ['access_token&b', 'b'],
    ['a=access_token', 'a=access_token'],
    ['access_tokens=1', 'access_tokens=1'],
    ['%zz=1&access_token=2', '%zz=1'],
    ['access+token=1', 'access+token=1'],
    ['acc%65ss+_token=1', 'acc%65ss+_token=1']
  ]
  for (const [q, expected] of rows) t.equal(withoutAccessToken(q), expected, q)
})

t.test('H14: the upstream\'s hop-by-hop fields and the fields its Connection names stay on its hop', async (t) => {
  const headers: IncomingHttpHeaders = {
    connection: 'X-Private , Keep-Alive', 'x-private': 'internal', 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic', upgrade: 'h2c', trailer: 'x', 'x-kept': 'yes'
  }
  t.same(stripResponseHopByHop(headers), { 'x-kept': 'yes' })
  t.same(stripResponseHopByHop({ 'x-kept': 'yes', te: 'trailers' }), { 'x-kept': 'yes' }, 'without a Connection field')
  t.same(stripResponseHopByHop({ connection: 'keep-alive', 'keep-alive': 'timeout=5', 'x-kept': 'yes' }), { 'x-kept': 'yes' }, 'Connection: keep-alive')
})

t.test('H01: the upstream\'s identity-namespace response fields never reach the client, however spelled', async (t) => {
  const headers: IncomingHttpHeaders = {
    'x-auth-subject': 'a', x_auth_scopes: 'b', 'x.auth-client-id': 'c', xauthz: 'd', '-x-AUTH': 'e', 'x-a-u-t-h-x': 'f',
    'x-seen-subject': 'kept', 'x-au': 'kept', 'auth-x': 'kept', 'content-type': 'text/plain'
  }
  t.same(stripResponseHopByHop(headers), { 'x-seen-subject': 'kept', 'x-au': 'kept', 'auth-x': 'kept', 'content-type': 'text/plain' })
})

// --- the forward stage ------------------------------------------------------------------------

interface Dispatched { opts: Record<string, any>, handler: UpstreamResponse }
interface Raw {
  socket: unknown, writableEnded: boolean, writableFinished: boolean, destroyed: boolean, headersSent: boolean, req: { complete: boolean }
  head?: { status: number, headers: Record<string, unknown> }, chunks: string[], ended: boolean, destroyedWith?: Error
  listeners: Record<string, Array<() => void>>, full: boolean
}

/** The dispatcher the stage is given: it records each request (into the reply of the context made last). */
let dispatched: Dispatched[] = []
const dispatcher = { dispatch (opts: Record<string, any>, handler: UpstreamResponse) { dispatched.push({ opts, handler }); return true } }
function stage (opts: ForwardOptions = {}): ReturnType<typeof forwardStage> {
  return forwardStage({ dispatcher: dispatcher as never, ...opts })
}

/** undici's controller, as the handler sees it. */
function controller (): { aborted: Error | null, paused: boolean, abort (e: Error): void, pause (): void, resume (): void } {
  return { aborted: null, paused: false, abort (e) { this.aborted = e }, pause () { this.paused = true }, resume () { this.paused = false } }
}

function fakeReply (): FastifyReply & { calls: Dispatched[], raw: Raw, sent: { status?: number, headers: Record<string, string>, body?: unknown }, logs: Array<[string, object]> } {
  const sent: { status?: number, headers: Record<string, string>, body?: unknown } = { headers: {} }
  const logs: Array<[string, object]> = []
  const raw: Raw = {
    // the response still holds an open connection (src/http/connection.ts canStillAnswer)
    socket: { destroyed: false, writable: true },
    writableEnded: false,
    writableFinished: false,
    destroyed: false,
    headersSent: false,
    req: { complete: true },
    chunks: [],
    ended: false,
    listeners: {},
    full: false
  }
  Object.assign(raw, {
    writeHead (status: number, headers: Record<string, unknown>) { raw.head = { status, headers: { ...headers } }; raw.headersSent = true },
    write (chunk: Buffer) { raw.chunks.push(chunk.toString()); return !raw.full },
    end () { raw.ended = true; raw.writableFinished = true },
    once (event: string, fn: () => void) { (raw.listeners[event] ??= []).push(fn) },
    destroy (err: Error) { raw.destroyed = true; raw.destroyedWith = err }
  })
  const reply = {
    calls: [] as Dispatched[],
    raw,
    sent,
    logs,
    request: { id: 'req-1', log: { info: (o: object) => logs.push(['info', o]), warn: (o: object) => logs.push(['warn', o]) } },
    getHeaders () { return { ...sent.headers } },
    header (k: string, v: string) { sent.headers[k] = v; return reply },
    code (s: number) { sent.status = s; return reply },
    type () { return reply },
    send (b: unknown) { sent.body = b; return reply }
  }
  dispatched = reply.calls
  return reply as never
}

function forwardContext (over: Parameters<typeof context>[0] = {}): PipelineContext & { reply: ReturnType<typeof fakeReply> } {
  const ctx = context(over)
  return { ...ctx, reply: fakeReply() }
}

t.test('forward: the upstream gets exactly origin + base path + canonical path, with the route\'s timeout', async (t) => {
  const ctx = forwardContext({ headers: { host: 'gw.example', 'x-auth-subject': 'root', connection: 'close' } })
  t.equal(stage()(ctx), ctx.reply)
  t.equal(ctx.reply.calls.length, 1)
  const { opts } = ctx.reply.calls[0]!
  t.equal(opts.origin, 'http://127.0.0.1:9001')
  t.equal(opts.path, '/base/x/1', 'a request without a query goes without one')
  t.equal(opts.headersTimeout, 0, 'undici\'s own timers are off (its fast timers outlived two scavenges)')
  t.equal(opts.bodyTimeout, 0)
  t.equal(opts.body, null, 'no body stream: none sent')
  t.match(opts.headers, { 'x-auth-subject': 'alice', 'x-request-id': 'req-1', host: '127.0.0.1:9001', 'x-forwarded-host': 'gw.example' })
  t.notOk('connection' in opts.headers)
  const query = forwardContext({ query: 'a=1&b=%20' })
  stage()(query)
  t.equal(query.reply.calls[0]!.opts.path, '/base/x/1?a=1&b=%20', 'a query without access_token goes as sent')
  // the route's timeout (1234 ms) runs in the handler: nothing answered by then → undici's own error,
  // which the handler's error path turns into a 504 (test/faults/upstream.test.ts F10, F11)
  const aborted: Error[] = []
  ctx.reply.calls[0]!.handler.onRequestStart({ abort: (e: Error) => { aborted.push(e) } } as never, {})
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.equal(aborted.length, 0, 'not before the route timeout')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal((aborted[0] as { code?: string } | undefined)?.code, 'UND_ERR_HEADERS_TIMEOUT', 'aborted at the route timeout')
})

t.test('RFC 9110 §7.6.1: the fields a client\'s Connection names stay on its hop, and cannot remove the gateway\'s', async (t) => {
  const incoming: IncomingHttpHeaders = { connection: 'X-Private, X-Request-Id, keep-alive', 'x-private': 'p', 'x-kept': 'k' }
  const headers = upstreamHeaders(context(), incoming, {}, untrusted, 'up:1')
  t.notOk('x-private' in headers)
  t.equal(headers['x-kept'], 'k')
  t.equal(headers['x-request-id'], 'req-1', 'named by the client, set by the gateway all the same')
  t.equal(headers.host, 'up:1', 'Host: the upstream\'s authority')
  t.equal(upstreamHeaders(context(), { host: 'client' }, {}, untrusted).host, undefined, 'the client\'s Host never goes upstream')
})

t.test('forward: a request whose connection is already closed is never forwarded (src/http/connection.ts)', async (t) => {
  for (const raw of [
    { socket: null, writableEnded: false, destroyed: false },
    { socket: { destroyed: true, writable: true }, writableEnded: false, destroyed: false },
    { socket: { destroyed: false, writable: false }, writableEnded: false, destroyed: false },
    { socket: { destroyed: false, writable: true }, writableEnded: true, destroyed: false },
    { socket: { destroyed: false, writable: true }, writableEnded: false, destroyed: true }
  ]) {
    const ctx = forwardContext()
    ;(ctx.reply as unknown as { raw: unknown }).raw = raw
    t.throws(() => stage()(ctx), { code: 'bad_request', status: 400, headers: { connection: 'close' }, detail: 'connection closed before forwarding' })
    t.equal(ctx.reply.calls.length, 0, 'the upstream was not contacted')
  }
})

t.test('forward J61: an access_token query parameter never travels further', async (t) => {
  const ctx = forwardContext({ query: 'a=1&access_token=secret' })
  stage()(ctx)
  t.equal(ctx.reply.calls[0]!.opts.path, '/base/x/1?a=1')
  const only = forwardContext({ query: 'access_token=secret' })
  stage()(only)
  t.equal(only.reply.calls[0]!.opts.path, '/base/x/1', 'nothing else: no query')
})

t.test('forward: the upstream\'s response is written to the client as it arrives, with the gateway\'s fields', async (t) => {
  const ctx = forwardContext()
  stage()(ctx)
  const { handler } = ctx.reply.calls[0]!
  const c = controller()
  handler.onRequestStart(c as never, {})
  handler.onResponseStart(c as never, 201, {
    'content-type': 'text/plain', 'x-request-id': 'upstream-id', 'ratelimit-limit': '99', connection: 'x-a', 'x-a': '1', 'x-auth-subject': 'evil', 'set-cookie': ['a=1', 'b=2']
  }, 'Created')
  t.same(ctx.reply.raw.head, {
    status: 201,
    headers: { 'content-type': 'text/plain', 'x-request-id': 'req-1', 'ratelimit-limit': '99', 'set-cookie': ['a=1', 'b=2'] }
  }, 'hop-by-hop and identity fields dropped (H14, H01); x-request-id is the gateway\'s; no rate limit: the upstream\'s RateLimit-* pass')
  handler.onResponseData(c as never, Buffer.from('ab'))
  ctx.reply.raw.full = true
  handler.onResponseData(c as never, Buffer.from('cd'))
  t.ok(c.paused, 'the client\'s socket full: undici pauses')
  for (const fn of ctx.reply.raw.listeners.drain ?? []) fn()
  t.notOk(c.paused, 'drained: undici resumes')
  handler.onResponseEnd(c as never, {})
  t.same(ctx.reply.raw.chunks, ['ab', 'cd'])
  t.ok(ctx.reply.raw.ended)
  for (const fn of ctx.reply.raw.listeners.close ?? []) fn()
  t.equal(c.aborted, null, 'a response that finished is no abort')
})

t.test('forward: on a limited route the gateway\'s RateLimit-* headers win over the upstream\'s', async (t) => {
  const ctx = forwardContext({ route: route({ rateLimit: { limit: 1, windowMs: 1000, by: 'ip', mode: 'batched' } }) })
  ctx.reply.header('ratelimit-limit', '1')
  stage()(ctx)
  const { handler } = ctx.reply.calls[0]!
  const c = controller()
  handler.onRequestStart(c as never, {})
  handler.onResponseStart(c as never, 200, { 'ratelimit-limit': '99', 'ratelimit-remaining': '98', 'ratelimit-reset': '1', connection: 'x-a', 'x-a': '1', 'x-kept': 'k' }, 'OK')
  t.same(ctx.reply.raw.head!.headers, { 'ratelimit-limit': '1', 'x-kept': 'k', 'x-request-id': 'req-1' })
})

t.test('forward: Connection: close while draining, and when the request body was not read to its end', async (t) => {
  for (const [closing, complete, expected] of [[true, true, 'close'], [false, false, 'close'], [false, true, undefined]] as const) {
    const ctx = forwardContext()
    ctx.reply.raw.req.complete = complete
    stage({ isClosing: () => closing })(ctx)
    const c = controller()
    ctx.reply.calls[0]!.handler.onRequestStart(c as never, {})
    ctx.reply.calls[0]!.handler.onResponseStart(c as never, 200, {}, 'OK')
    t.equal(ctx.reply.raw.head!.headers.connection, expected, `closing ${String(closing)}, body complete ${String(complete)}`)
  }
})

t.test('F15: the client gone before the response ended aborts the upstream request', async (t) => {
  const ctx = forwardContext()
  stage()(ctx)
  const c = controller()
  ctx.reply.calls[0]!.handler.onRequestStart(c as never, {})
  for (const fn of ctx.reply.raw.listeners.close ?? []) fn()
  t.match(c.aborted, { message: 'client connection closed' })
  const gone = forwardContext()
  stage()(gone)
  gone.reply.raw.destroyed = true
  const g = controller()
  gone.reply.calls[0]!.handler.onRequestStart(g as never, {})
  t.ok(g.aborted, 'already gone when the upstream request starts')
})

t.test('forward: an upstream failure after the status line cuts the response; none is answered twice', async (t) => {
  const ctx = forwardContext()
  stage()(ctx)
  const { handler } = ctx.reply.calls[0]!
  const c = controller()
  handler.onRequestStart(c as never, {})
  handler.onResponseStart(c as never, 200, {}, 'OK')
  const err = new Error('reset')
  handler.onResponseError(c as never, err)
  t.equal(ctx.reply.raw.destroyedWith, err)
  t.equal(ctx.reply.sent.status, undefined, 'no second status line')
  const gone = forwardContext()
  stage()(gone)
  gone.reply.raw.destroyed = true
  gone.reply.calls[0]!.handler.onResponseError(c as never, new Error('aborted'))
  t.equal(gone.reply.sent.status, undefined, 'the client is gone: nothing answered')
  const bad = forwardContext()
  stage()(bad)
  const b = controller()
  ;(bad.reply.raw as unknown as { writeHead: () => void }).writeHead = () => { throw new RangeError('Invalid status code') }
  bad.reply.calls[0]!.handler.onResponseStart(b as never, 1000, {}, '')
  t.match(b.aborted, { message: 'Invalid status code' }, 'a status Node cannot write: the upstream request is aborted (then its error answers 502)')
})

t.test('F17: an announced body over the route\'s limit is a 413 before the upstream is contacted', async (t) => {
  const over = forwardContext({ headers: { 'content-length': '11' }, route: route({ bodyLimit: 10 }) })
  t.throws(() => stage()(over), { code: 'payload_too_large', status: 413, headers: { connection: 'close' }, detail: 'content-length 11 (limit 10 bytes)' })
  t.equal(over.reply.calls.length, 0, 'the upstream was not contacted')
  const at = forwardContext({ headers: { 'content-length': '10' }, route: route({ bodyLimit: 10 }) })
  stage()(at)
  t.equal(at.reply.calls.length, 1, 'exactly the limit is forwarded')
  const byDefault = forwardContext({ headers: { 'content-length': '6' } })
  t.throws(() => stage({ maxBodySize: 5 })(byDefault), { code: 'payload_too_large' }, 'MAX_BODY_SIZE applies to routes without body_limit')
  const routeWins = forwardContext({ headers: { 'content-length': '6' }, route: route({ bodyLimit: 100 }) })
  stage({ maxBodySize: 5 })(routeWins)
  t.equal(routeWins.reply.calls.length, 1, 'a route\'s body_limit replaces MAX_BODY_SIZE')
  const tenMiB = forwardContext({ headers: { 'content-length': String(10 * 1024 * 1024) } })
  stage()(tenMiB)
  t.equal(tenMiB.reply.calls.length, 1, 'default MAX_BODY_SIZE: 10 MiB')
  t.throws(() => stage()(forwardContext({ headers: { 'content-length': String(10 * 1024 * 1024 + 1) } })), { code: 'payload_too_large' })
})

t.test('F17: a chunked body is counted on its way and cut once it passes the limit; then a 413', async (t) => {
  const body = new PassThrough()
  const ctx = forwardContext({ body, route: route({ bodyLimit: 4 }) })
  stage()(ctx)
  const counted = (ctx.request as unknown as { body: PassThrough }).body
  t.not(counted, body, 'the body now goes through the counter')
  const received: Buffer[] = []
  counted.on('data', (c: Buffer) => received.push(c))
  const failed = new Promise<Error>((resolve) => counted.once('error', resolve))
  body.write('abcd')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(Buffer.concat(received).toString(), 'abcd', 'up to the limit flows')
  body.write('e')
  t.match((await failed).message, /over the route limit/)
  t.equal(Buffer.concat(received).toString(), 'abcd', 'the byte over the limit never flows')
  ctx.reply.calls[0]!.handler.onResponseError(controller() as never, new Error('socket hang up'))
  t.equal(ctx.reply.sent.status, 413)
  t.match(ctx.reply.sent.headers, { connection: 'close' })
  t.same(ctx.reply.sent.body, { error: 'payload_too_large', error_description: 'Request body too large' })
  t.match(ctx.reply.logs, [['info', { reason: 'payload_too_large', route: 'GET /x/*', upstream: 'orders', limit: 4 }]])
})

t.test('F17: a chunked body within its limit is no 413 when the upstream fails for another reason', async (t) => {
  const body = new PassThrough()
  const ctx = forwardContext({ body, route: route({ bodyLimit: 100 }) })
  stage()(ctx)
  const counted = (ctx.request as unknown as { body: PassThrough }).body
  counted.on('data', () => {})
  body.write('abc')
  await new Promise((resolve) => setImmediate(resolve))
  ctx.reply.calls[0]!.handler.onResponseError(controller() as never, Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))
  t.equal(ctx.reply.sent.status, 502)
  t.match(ctx.reply.logs, [['warn', { reason: 'upstream_unreachable', cause: 'ECONNREFUSED' }]])
})

t.test('F15: a body the client finished is never cut, even when the upstream has not read it yet', async (t) => {
  const body = new PassThrough()
  const ctx = forwardContext({ body, route: route({ bodyLimit: 100 }) })
  stage()(ctx)
  const counted = (ctx.request as unknown as { body: PassThrough }).body
  let errored: Error | null = null
  counted.on('error', (e) => { errored = e })
  const closed = new Promise((resolve) => body.once('close', resolve))
  body.end('xyz')
  await closed
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(errored, null, 'the client closing after its last byte is no abort')
  const chunks: Buffer[] = []
  counted.on('data', (c: Buffer) => chunks.push(c))
  await new Promise((resolve) => counted.once('end', resolve))
  t.equal(Buffer.concat(chunks).toString(), 'xyz', 'the upstream still gets the whole body')
})

t.test('upstream headers without a matched route: the Authorization header is left as it is (no route decision to apply)', async (t) => {
  t.equal(upstreamHeaders(context({ route: null }), { authorization: 'Bearer t' }, {}, untrusted).authorization, 'Bearer t')
})

t.test('F15: a client gone mid-body aborts the upstream request body too', async (t) => {
  const body = new PassThrough()
  const ctx = forwardContext({ body, route: route({ bodyLimit: 100 }) })
  stage()(ctx)
  const counted = (ctx.request as unknown as { body: PassThrough }).body
  counted.on('data', () => {})
  const failed = new Promise<Error>((resolve) => counted.once('error', resolve))
  body.write('ab')
  body.destroy()
  t.match((await failed).message, /aborted by the client/)
  const finished = new PassThrough()
  const ok = forwardContext({ body: finished, route: route({ bodyLimit: 100 }) })
  stage()(ok)
  const okCounted = (ok.request as unknown as { body: PassThrough }).body
  let errored = false
  okCounted.on('error', () => { errored = true })
  const chunks: Buffer[] = []
  okCounted.on('data', (c: Buffer) => chunks.push(c))
  const ended = new Promise((resolve) => okCounted.once('end', resolve))
  finished.end('xyz')
  await ended
  finished.destroy()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(Buffer.concat(chunks).toString(), 'xyz')
  t.notOk(errored, 'a body read to its end is no abort')
})

t.test('forward: an upstream failure is a 502, a timeout a 504, with the transport cause in the log', async (t) => {
  const rows: Array<[unknown, number, string, string]> = [
    [Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 502, 'upstream_unreachable', 'ECONNREFUSED'],
    [Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET', cause: { code: 'ECONNRESET' } }), 502, 'upstream_unreachable', 'ECONNRESET'],
    [Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 504, 'upstream_timeout', 'UND_ERR_HEADERS_TIMEOUT'],
    [Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 504, 'upstream_timeout', 'UND_ERR_CONNECT_TIMEOUT'],
    [Object.assign(new Error('x'), { statusCode: 504 }), 504, 'upstream_timeout', 'error'],
    [Object.assign(new Error('x'), { code: 'ECONNRESET', cause: { code: 42 } }), 502, 'upstream_unreachable', 'ECONNRESET']
  ]
  for (const [error, status, reason, cause] of rows) {
    const ctx = forwardContext()
    stage()(ctx)
    ctx.reply.calls[0]!.handler.onResponseError(controller() as never, error as Error)
    t.equal(ctx.reply.sent.status, status, reason)
    t.same(ctx.reply.logs, [['warn', { reason, upstream: 'orders', route: 'GET /x/*', cause: cause === 'error' ? undefined : cause }]], `${reason}: log`)
  }
  const plain = forwardContext()
  stage()(plain)
  plain.reply.calls[0]!.handler.onResponseError(controller() as never, new Error('no code'))
  t.same(plain.reply.sent.body, { error: 'bad_gateway', error_description: 'The upstream service is unreachable' })
})
