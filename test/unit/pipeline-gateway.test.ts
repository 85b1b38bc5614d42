// The pipeline as registered, in process, and the upstream dispatcher it forwards through.
import t, { type Test } from 'tap'
import { createServer as createHttpsServer, createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import { loadConfig, type Config } from '../../src/config/env.js'
import { loadRouteTable } from '../../src/config/route-map-loader.js'
import { registerErrorHandler } from '../../src/errors/handler.js'
import { KeyRing } from '../../src/oauth/keys.js'
import { buildPipeline, gatewayPlugin } from '../../src/pipeline/index.js'
import { MemoryStore } from '../../src/store/index.js'
import { StoreUnavailableError } from '../../src/store/types.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { silentLogger, writeRoutes } from '../helpers/gateway.js'
import { mint, registerStoreEpoch, userClaims } from '../helpers/tokens.js'
import type { CompiledUpstream, RouteTable } from '../../src/config/route-types.js'
import { UpstreamAgents } from '../../src/pipeline/upstream-agents.js'

// Fixtures of the later sections, set up before any test is defined: tap ends the file's root test
// once it is idle, so no section may still be awaiting its setup when the tests above it finish.
// For the section "Upstream TLS decided per origin by the dispatcher the forward stage…":
const dir = mkdtempSync(join(tmpdir(), 'portcullis-agents-'))
const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
openssl('req', '-x509', ...EC, '-days', '1', '-subj', '/CN=Portcullis Agents Test CA', '-keyout', 'ca.key', '-out', 'ca.pem',
  '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign')
writeFileSync(join(dir, 'local.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n')
openssl('req', ...EC, '-subj', '/CN=local', '-keyout', 'local.key', '-out', 'local.csr')
openssl('x509', '-req', '-in', 'local.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'local.ext', '-out', 'local.pem')
const CA_PEM = readFileSync(join(dir, 'ca.pem'), 'utf8')

async function httpsServer (): Promise<string> {
  const server: Server = createServer({ key: readFileSync(join(dir, 'local.key')), cert: readFileSync(join(dir, 'local.pem')) }, (_req, res) => { res.end('ok') })
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const ORIGIN_A = await httpsServer()
const ORIGIN_B = await httpsServer()

function upstream (name: string, origin: string, tls?: { ca?: string, verify: boolean }): CompiledUpstream {
  return { name, origin, basePath: '', timeoutMs: 2000, ...(tls === undefined ? {} : { tls: { ca: tls.ca, caFile: tls.ca === undefined ? undefined : 'ca.pem', verify: tls.verify } }) }
}

function tableOf (...ups: CompiledUpstream[]): RouteTable {
  return { routes: [], upstreams: new Map(ups.map((u) => [u.name, u])), file: 'routes.yaml', version: 'test', lookup: () => ({ kind: 'not_found' }) }
}

/** A route source; `swaps` false behaves like a plain source without onSwap. */
function source (first: RouteTable, swaps = true): { current(): RouteTable, onSwap?: (l: (n: RouteTable) => void) => () => void, swap(n: RouteTable): void, listeners: number } {
  let table = first
  const listeners = new Set<(n: RouteTable) => void>()
  const src = {
    current: () => table,
    swap (next: RouteTable) { table = next; for (const l of listeners) l(next) },
    get listeners () { return listeners.size }
  }
  if (!swaps) return src
  return Object.assign(src, { onSwap: (l: (n: RouteTable) => void) => { listeners.add(l); return () => { listeners.delete(l) } } })
}

function agents (src: ReturnType<typeof source>): { agents: UpstreamAgents, warnings: Array<Record<string, unknown>> } {
  const warnings: Array<Record<string, unknown>> = []
  const a = new UpstreamAgents({ routes: src, log: { warn: (o) => { warnings.push(o as Record<string, unknown>) } } })
  t.teardown(() => a.close())
  return { agents: a, warnings }
}

/** 'ok', or the TLS/connection error code. */
async function get (a: UpstreamAgents, origin: string): Promise<string> {
  try {
    const res = await request(`${origin}/`, { dispatcher: a.dispatcher })
    return await res.body.text()
  } catch (err) {
    const e = err as { code?: string, cause?: { code?: string } }
    return e.code ?? e.cause?.code ?? String(err)
  }
}

const UNTRUSTED = /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|DEPTH_ZERO_SELF_SIGNED_CERT)$/

// The pipeline as registered (src/pipeline/index.ts), in process: one Fastify instance with the error
// handler and gatewayPlugin, requests by inject, one echo upstream. The order of the stages is security
// (match → authenticate → check-revocation → authorize → rate-limit → forward), and the settings each
// stage takes from the config (ISSUER/AUDIENCE, MAX_TOKEN_LENGTH J36, TRUST_PROXY H09, MAX_BODY_SIZE F17,
// REVOCATION_MODE) are the ones that apply. Over real sockets: test/integration/edge-auth.test.ts.

const echo = await startEchoUpstream()
t.teardown(() => echo.close())

// H15: an HTTPS upstream with a self-signed certificate (the test-only pair of test/security/headers.test.ts)
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgT2+Lz3HrErhhQlp9
3h95VMmxRnQLKFlTCkNoScZMdPGhRANCAASUkIZfFTpo/HG9tcNhIsyC+4WQnHKj
Zi2d9Z6WVpjp0YiSV4WMCcYUQiCkHmFA+AH5jA3ZC+U+EjR5Jyj2lpMN
-----END PRIVATE KEY-----`
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBqzCCAVCgAwIBAgIUAfdJwkvyr16P7P+yd38w/cH3xhIwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQdXBzdHJlYW0uaW52YWxpZDAgFw0yNjExMjIwNjI0MjZaGA8y
MTI2MTAyOTA2MjQyNlowGzEZMBcGA1UEAwwQdXBzdHJlYW0uaW52YWxpZDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABJSQhl8VOmj8cb21w2EizIL7hZCccqNmLZ31
npZWmOnRiJJXhYwJxhRCIKQeYUD4AfmMDdkL5T4SNHknKPaWkw2jcDBuMB0GA1Ud
DgQWBBQdugABNVvxR9olKCem1Z3qsm8QTTAfBgNVHSMEGDAWgBQdugABNVvxR9ol
KCem1Z3qsm8QTTAPBgNVHRMBAf8EBTADAQH/MBsGA1UdEQQUMBKCEHVwc3RyZWFt
LmludmFsaWQwCgYIKoZIzj0EAwIDSQAwRgIhANvVwbi4SsXqM8I57WgKAu/DfNvR
FOeovmv5i9Zk7QSnAiEAhHEyrzr4hCyPN6BdYmvLbiOC1+cXXT5sQqinD8MDiE8=
-----END CERTIFICATE-----`
let tlsHits = 0
const tls = createHttpsServer({ key: TLS_KEY, cert: TLS_CERT }, (_req, res) => { tlsHits++; res.end('{}') })
tls.on('tlsClientError', () => {})
await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => { tls.closeAllConnections(); tls.close(() => resolve()) }))

const ROUTES = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
  tls: { url: https://127.0.0.1:${(tls.address() as AddressInfo).port}, timeout: 2s }
routes:
  - { path: /tls/*, upstream: tls, auth: none }
  - { path: /, upstream: echo, auth: none }
  - { path: /open/*, upstream: echo, auth: none }
  - { path: /me/*, upstream: echo }
  - { path: /admin/*, upstream: echo, scopes: [admin] }
  - { path: /limited/*, upstream: echo, scopes: [admin], rate_limit: { limit: 1, window: 1m, by: subject } }
`

interface Gw { app: FastifyInstance, store: MemoryStore, keys: KeyRing, config: Readonly<Config> }

async function gateway (t: Test, env: Record<string, string> = {}): Promise<Gw> {
  const config = loadConfig({ ISSUER: 'https://as.example', AUDIENCE: 'portcullis', PORT: '0', ...env })
  const store = new MemoryStore()
  const keys = await KeyRing.load(store, { alg: config.SIGNING_ALG, logger: silentLogger, refreshIntervalMs: 0 })
  const table = await loadRouteTable(writeRoutes(ROUTES))
  const app = Fastify()
  registerErrorHandler(app)
  await app.register(gatewayPlugin, { routes: { current: () => table }, config, store, keys })
  await app.ready()
  t.teardown(async () => { await app.close(); keys.close(); await store.close() })
  // tokens minted by tests carry the store's epoch, as the token endpoint's do (SECURITY.md E02)
  await store.epoch.verify()
  registerStoreEpoch(config, () => store.epoch.current)
  return { app, store, keys, config }
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

t.test('the stage order is written down once, and is the order that runs', async (t) => {
  const config = loadConfig({ ISSUER: 'https://as.example', AUDIENCE: 'portcullis' })
  const store = new MemoryStore()
  const keys = await KeyRing.load(store, { alg: config.SIGNING_ALG, logger: silentLogger, refreshIntervalMs: 0 })
  t.teardown(() => { keys.close() })
  const p = buildPipeline({ routes: { current: () => { throw new Error('unused') } }, config, store, keys }, () => undefined)
  t.same(p.stageNames, ['match', 'authenticate', 'check-revocation', 'authorize', 'rate-limit'])
  t.equal(p.stages.length, 5)
})

t.test('a good token with the scope reaches the upstream with its identity; the path as matched', async (t) => {
  const gw = await gateway(t)
  const token = mint(gw.keys, userClaims(gw.config, { scope: 'read admin' }))
  const res = await gw.app.inject({ url: '/admin/%78?q=1', headers: bearer(token) })
  t.equal(res.statusCode, 200)
  const seen = echo.seen.at(-1)!
  t.equal(seen.url, '/admin/x?q=1')
  t.equal(seen.headers['x-auth-subject'], 'alice')
  t.equal(seen.headers['x-auth-scopes'], 'read admin')
  const root = await gw.app.inject({ url: '/' })
  t.equal(root.statusCode, 200, 'the root path is routed too')
  t.equal(echo.seen.at(-1)!.url, '/')
})

t.test('H15 / RFC 9700 §4.13: the forward stage dispatches through the gateway\'s TLS-verifying dispatcher', async (t) => {
  const gw = await gateway(t)
  const res = await gw.app.inject({ url: '/tls/x' })
  t.equal(res.statusCode, 502, 'a certificate no CA vouches for: refused')
  t.equal(tlsHits, 0, 'no request reached the unverified upstream')
})

t.test('RFC 6750 §3.1: authenticate runs before authorize (401 invalid_token, never 403), match before both', async (t) => {
  const gw = await gateway(t)
  const bad = await gw.app.inject({ url: '/admin/x', headers: bearer('not.a.token') })
  t.equal(bad.statusCode, 401, 'a bad token on a scoped route is an authentication failure')
  t.equal(bad.json().error, 'invalid_token')
  const none = await gw.app.inject({ url: '/admin/x' })
  t.equal(none.statusCode, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer realm="portcullis"', 'the realm of the gateway')
  const weak = await gw.app.inject({ url: '/admin/x', headers: bearer(mint(gw.keys, userClaims(gw.config, { scope: 'read' }))) })
  t.equal(weak.statusCode, 403)
  t.equal(weak.headers['www-authenticate'], 'Bearer realm="portcullis", error="insufficient_scope", scope="admin"', 'the same realm on a 403')
  const path = await gw.app.inject({ url: '/me/a%2Fb', headers: bearer('not.a.token') })
  t.equal(path.statusCode, 400, 'an ambiguous path is refused before any token is looked at')
  t.equal(path.json().error, 'invalid_request')
})

t.test('RFC 7009 §2.2: check-revocation runs before authorize and rate-limit (a revoked token is 401, and not counted)', async (t) => {
  const gw = await gateway(t)
  const claims = userClaims(gw.config, { scope: 'admin' })
  const token = mint(gw.keys, claims)
  await gw.store.revokeToken(claims.jti, claims.exp)
  for (let i = 0; i < 2; i++) {
    const res = await gw.app.inject({ url: '/limited/x', headers: bearer(token) })
    t.equal(res.statusCode, 401)
    t.equal(res.json().error_description, 'The access token was revoked')
  }
  const fresh = mint(gw.keys, userClaims(gw.config, { scope: 'admin' }))
  t.equal((await gw.app.inject({ url: '/limited/x', headers: bearer(fresh) })).statusCode, 200, 'the subject\'s budget is untouched')
  t.equal((await gw.app.inject({ url: '/limited/x', headers: bearer(fresh) })).statusCode, 429, 'then the limit applies')
  const weak = await gw.app.inject({ url: '/limited/x', headers: bearer(mint(gw.keys, userClaims(gw.config, { scope: 'read', sub: 'bob' }))) })
  t.equal(weak.statusCode, 403, 'authorize before rate-limit: a refused scope is never a 429')
})

t.test('config reaches the stages: issuer and audience, MAX_TOKEN_LENGTH (J36), TOKEN_CACHE_SIZE', async (t) => {
  const gw = await gateway(t, { MAX_TOKEN_LENGTH: '512', TOKEN_CACHE_SIZE: '0' })
  const long = await gw.app.inject({ url: '/me/x', headers: bearer(mint(gw.keys, userClaims(gw.config, { scope: 'x'.repeat(600) }))) })
  t.equal(long.statusCode, 401, 'over MAX_TOKEN_LENGTH')
  const ok = await gw.app.inject({ url: '/me/x', headers: bearer(mint(gw.keys, userClaims(gw.config))) })
  t.equal(ok.statusCode, 200)
  const otherAudience = await gw.app.inject({ url: '/me/x', headers: bearer(mint(gw.keys, userClaims(gw.config, { aud: 'elsewhere' }))) })
  t.equal(otherAudience.statusCode, 401)
  const otherIssuer = await gw.app.inject({ url: '/me/x', headers: bearer(mint(gw.keys, userClaims(gw.config, { iss: 'https://other.example' }))) })
  t.equal(otherIssuer.statusCode, 401)
  const expired = userClaims(gw.config, { exp: Math.floor(Date.now() / 1000) - 20 })
  t.equal((await gw.app.inject({ url: '/me/x', headers: bearer(mint(gw.keys, expired)) })).statusCode, 200, 'CLOCK_SKEW (30 s by default) applies')
})

t.test('config reaches forward: TRUST_PROXY (H09) and MAX_BODY_SIZE (F17); bodies are streamed unparsed', async (t) => {
  const trusted = await gateway(t, { TRUST_PROXY: '127.0.0.1', MAX_BODY_SIZE: '8' })
  await trusted.app.inject({ url: '/open/x', headers: { 'x-forwarded-for': '203.0.113.5' } })
  t.equal(echo.seen.at(-1)!.headers['x-forwarded-for'], '203.0.113.5, 127.0.0.1', 'a trusted peer\'s chain is appended to')
  const big = await trusted.app.inject({ method: 'POST', url: '/open/x', payload: '123456789', headers: { 'content-type': 'application/x-anything' } })
  t.equal(big.statusCode, 413)
  const small = await trusted.app.inject({ method: 'POST', url: '/open/x', payload: '{"a":', headers: { 'content-type': 'application/json' } })
  t.equal(small.statusCode, 200, 'not parsed here: invalid JSON is the upstream\'s business')
  t.equal(echo.seen.at(-1)!.body, '{"a":')
  const direct = await gateway(t)
  await direct.app.inject({ url: '/open/x', headers: { 'x-forwarded-for': '203.0.113.5' } })
  t.equal(echo.seen.at(-1)!.headers['x-forwarded-for'], '127.0.0.1', 'no TRUST_PROXY: the client\'s value is replaced')
})

t.test('REVOCATION_MODE=replicated: with a live view the store is not asked per request; strict mode asks it (F02)', async (t) => {
  for (const mode of ['replicated', 'strict'] as const) {
    const config = loadConfig({ ISSUER: 'https://as.example', AUDIENCE: 'portcullis', PORT: '0', REVOCATION_MODE: mode })
    const inner = new MemoryStore()
    let down = false
    const store = new Proxy(inner, {
      get (target, prop) {
        if (prop === 'checkRevocation' && down) return async () => { throw new StoreUnavailableError('down') }
        const v = Reflect.get(target, prop, target) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      }
    })
    const keys = await KeyRing.load(inner, { alg: config.SIGNING_ALG, logger: silentLogger, refreshIntervalMs: 0 })
    const table = await loadRouteTable(writeRoutes(ROUTES))
    const app = Fastify()
    registerErrorHandler(app)
    await app.register(gatewayPlugin, { routes: { current: () => table }, config, store, keys })
    await app.ready()
    t.teardown(async () => { await app.close(); keys.close(); await inner.close() })
    // the token carries the store's epoch (SECURITY.md E02), so only the revocation read decides
    await inner.epoch.verify()
    registerStoreEpoch(config, () => inner.epoch.current)
    const token = mint(keys, userClaims(config))
    down = true
    let status = 0
    // the view goes live once it has subscribed and read the snapshot (bounded wait, no timing assertion)
    for (let i = 0; i < 500 && status !== 200; i++) {
      status = (await app.inject({ url: '/me/x', headers: bearer(token) })).statusCode
      if (mode === 'strict') break
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 10))
    }
    t.equal(status, mode === 'replicated' ? 200 : 503, `${mode}: store revocation reads ${mode === 'replicated' ? 'not needed' : 'fail closed'}`)
  }
})

t.test('REVOCATION_MODE=replicated: the gateway answers from its local view, and closes it with the app', async (t) => {
  const gw = await gateway(t, { REVOCATION_MODE: 'replicated' })
  const claims = userClaims(gw.config)
  const token = mint(gw.keys, claims)
  t.equal((await gw.app.inject({ url: '/me/x', headers: bearer(token) })).statusCode, 200)
  await gw.store.revokeToken(claims.jti, claims.exp)
  let status = 0
  for (let i = 0; i < 500 && status !== 401; i++) {
    status = (await gw.app.inject({ url: '/me/x', headers: bearer(token) })).statusCode
    if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.equal(status, 401, 'the revocation reached the view')
})

// Upstream TLS decided per origin by the dispatcher the forward stage is given (SECURITY.md H15; RFC 9700 §4.13):
// verified against the system CAs by default, `ca:` replaces them for its upstream, `tls_verify: false`
// is an explicit opt-out that is logged, and a new route table takes effect on its next request.
// Requests go straight through UpstreamAgents' dispatcher (no gateway). Certificates are made at test
// time with the openssl CLI. Through a gateway: test/integration/upstream-tls.test.ts.
// Its fixtures are set up at the top of this file.

t.test('H15: by default an https upstream is verified against the system CAs (a private CA is refused)', async (t) => {
  const { agents: a, warnings } = agents(source(tableOf(upstream('a', ORIGIN_A))))
  t.match(await get(a, ORIGIN_A), UNTRUSTED)
  t.same(warnings, [])
})

t.test('H15: `ca:` makes its upstream trust that CA, and only its upstream', async (t) => {
  const { agents: a, warnings } = agents(source(tableOf(upstream('a', ORIGIN_A, { ca: CA_PEM, verify: true }), upstream('b', ORIGIN_B))))
  t.equal(await get(a, ORIGIN_A), 'ok')
  t.match(await get(a, ORIGIN_B), UNTRUSTED, 'another origin keeps the system CAs')
  t.same(warnings, [])
})

t.test('H15: tls_verify: false is an explicit opt-out, logged for every upstream it applies to', async (t) => {
  const { agents: a, warnings } = agents(source(tableOf(upstream('a', ORIGIN_A, { verify: false }), upstream('a2', ORIGIN_A, { verify: false }), upstream('b', ORIGIN_B))))
  t.equal(await get(a, ORIGIN_A), 'ok')
  t.match(await get(a, ORIGIN_B), UNTRUSTED)
  t.same(warnings.map((w) => [w.reason, w.upstream, w.origin]), [
    ['upstream_tls_unverified', 'a', ORIGIN_A], ['upstream_tls_unverified', 'a2', ORIGIN_A]
  ])
  const verifiedWithCa = agents(source(tableOf(upstream('a', ORIGIN_A, { ca: CA_PEM, verify: true }))))
  t.same(verifiedWithCa.warnings, [], 'verify: true with a CA is not an opt-out')
})

t.test('H15: the origin is recognised also when a caller passes it as a URL object', async (t) => {
  const { agents: a } = agents(source(tableOf(upstream('a', ORIGIN_A, { verify: false }))))
  const res = await a.dispatcher.request({ origin: new URL(ORIGIN_A), path: '/', method: 'GET' })
  t.equal(await res.body.text(), 'ok', 'routed to the upstream\'s own Agent')
})

t.test('a reload takes effect on the next request: with onSwap, and for a plain source per request', async (t) => {
  for (const swaps of [true, false]) {
    const src = source(tableOf(upstream('a', ORIGIN_A, { verify: false })), swaps)
    const { agents: a, warnings } = agents(src)
    t.equal(await get(a, ORIGIN_A), 'ok', `${swaps ? 'onSwap' : 'plain'}: unverified first`)
    src.swap(tableOf(upstream('a', ORIGIN_A)))
    t.match(await get(a, ORIGIN_A), UNTRUSTED, `${swaps ? 'onSwap' : 'plain'}: verified after the swap`)
    src.swap(tableOf(upstream('a', ORIGIN_A, { ca: CA_PEM, verify: true })))
    t.equal(await get(a, ORIGIN_A), 'ok', 'then a CA')
    src.swap(tableOf(upstream('a', ORIGIN_A, { verify: true })))
    t.match(await get(a, ORIGIN_A), UNTRUSTED, 'a changed TLS setting is never served by the old Agent')
    t.equal(warnings.length, 1)
  }
})

t.test('an unchanged TLS setting keeps its Agent across a reload; close() unsubscribes', async (t) => {
  const src = source(tableOf(upstream('a', ORIGIN_A, { ca: CA_PEM, verify: true })))
  const { agents: a } = agents(src)
  t.equal(await get(a, ORIGIN_A), 'ok')
  src.swap(tableOf(upstream('a', ORIGIN_A, { ca: CA_PEM, verify: true }), upstream('b', ORIGIN_B)))
  t.equal(await get(a, ORIGIN_A), 'ok', 'the same settings: still trusted')
  t.equal(src.listeners, 1)
  await a.close()
  t.equal(src.listeners, 0, 'no longer told about swaps')
})
