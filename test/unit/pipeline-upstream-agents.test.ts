// Upstream TLS decided per origin by the dispatcher reply-from is given (SECURITY.md H15; RFC 9700 §4.13):
// verified against the system CAs by default, `ca:` replaces them for its upstream, `tls_verify: false`
// is an explicit opt-out that is logged, and a new route table takes effect on its next request.
// Requests go straight through UpstreamAgents' dispatcher (no gateway). Certificates are made at test
// time with the openssl CLI. Through a gateway: test/integration/upstream-tls.test.ts.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import type { CompiledUpstream, RouteTable } from '../../src/config/route-types.js'
import { UpstreamAgents } from '../../src/pipeline/upstream-agents.js'

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

t.test('H15: the origin is recognised also when reply-from passes it as a URL object', async (t) => {
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
