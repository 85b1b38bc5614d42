// Upstream TLS through a real gateway and real HTTPS upstreams (issue 5 point 4; security-catalogue
// §0.10, H15; RFC 9700 §4.13): certificates are verified by default, `ca:` pins a CA bundle per upstream,
// `tls_verify: false` is an explicit, logged opt-out, and a reload with new TLS settings takes effect.
// Certificates are made at test time with the openssl CLI (node:crypto cannot issue X.509).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { buildApp } from '../../src/app.js'
import { startTestGateway } from '../helpers/gateway.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'))
const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

// a private CA, and two server certificates it signs: one for 127.0.0.1, one for another host
openssl('req', '-x509', ...EC, '-days', '1', '-subj', '/CN=Portcullis Test CA', '-keyout', 'ca.key', '-out', 'ca.pem',
  '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign')
function serverCert (name: string, san: string): { key: Buffer, cert: Buffer } {
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`)
  openssl('req', ...EC, '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`)
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1',
    '-extfile', `${name}.ext`, '-out', `${name}.pem`)
  return { key: readFileSync(join(dir, `${name}.key`)), cert: readFileSync(join(dir, `${name}.pem`)) }
}
const LOCAL = serverCert('local', 'IP:127.0.0.1')
const ELSEWHERE = serverCert('elsewhere', 'DNS:other.example')
const CA = join(dir, 'ca.pem')

/** An HTTPS upstream that counts the requests it answers. */
async function httpsUpstream (creds: { key: Buffer, cert: Buffer }): Promise<{ url: string, hits: () => number }> {
  let hits = 0
  const server: Server = createServer(creds, (_req, res) => {
    hits++
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"upstream":"tls"}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits }
}

const strict = await httpsUpstream(LOCAL) // signed by our CA, which the system does not trust
const pinned = await httpsUpstream(LOCAL)
const insecure = await httpsUpstream(ELSEWHERE)
const wrongHost = await httpsUpstream(ELSEWHERE) // trusted CA, certificate for another host

function routeMap (tls: { strict?: string, insecure?: string, wrongHost?: string }): string {
  return `
version: 1
upstreams:
  strict: { url: "${strict.url}"${tls.strict ?? ''} }
  pinned: { url: "${pinned.url}", ca: "${CA}" }
  insecure: { url: "${insecure.url}"${tls.insecure ?? ''} }
  wronghost: { url: "${wrongHost.url}"${tls.wrongHost ?? ''} }
routes:
  - { path: /strict/*, upstream: strict, auth: none }
  - { path: /pinned/*, upstream: pinned, auth: none }
  - { path: /insecure/*, upstream: insecure, auth: none }
  - { path: /wronghost/*, upstream: wronghost, auth: none }
`
}

// the gateway under test logs to `lines`; the helper's gateway supplies config, store, keys and the watcher
const lines: Array<Record<string, unknown>> = []
const sink = new Writable({
  write (chunk: Buffer, _enc, cb) {
    for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>)
    cb()
  }
})
const base = await startTestGateway(t, { routes: routeMap({ insecure: ', tls_verify: false', wrongHost: `, ca: "${CA}"` }) })
const app = await buildApp({ config: base.config, store: base.store, keys: base.keys, routes: base.watcher, logger: pino({ level: 'warn' }, sink) })
await app.listen({ port: 0, host: '127.0.0.1' })
t.teardown(() => app.close())
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

const BAD_GATEWAY = { error: 'bad_gateway', error_description: 'The upstream service is unreachable' }
/** The error code the forward stage logged for the last failure of `upstream`. */
const causeOf = (upstream: string): unknown => lines.findLast((l) => l.reason === 'upstream_unreachable' && l.upstream === upstream)?.cause
const warnings = (upstream: string): number =>
  lines.filter((l) => l.reason === 'upstream_tls_unverified' && l.upstream === upstream && l.level === 40).length

async function get (path: string): Promise<{ status: number, body: unknown }> {
  const res = await fetch(url + path)
  return { status: res.status, body: await res.json() }
}

t.test('H15: an https: upstream whose certificate the system CAs do not vouch for is 502, nothing sent', async (t) => {
  t.same(await get('/strict/a'), { status: 502, body: BAD_GATEWAY })
  t.equal(strict.hits(), 0, 'the upstream answered nothing: the handshake failed')
  t.equal(causeOf('strict'), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'refused by certificate verification')
})

t.test('H15: ca: pins the upstream\'s CA bundle', async (t) => {
  t.same(await get('/pinned/a'), { status: 200, body: { upstream: 'tls' } })
  t.equal(pinned.hits(), 1)
})

t.test('H15: a trusted CA but a certificate for another host is 502 (host name checked)', async (t) => {
  t.same(await get('/wronghost/a'), { status: 502, body: BAD_GATEWAY })
  t.equal(wrongHost.hits(), 0)
  t.equal(causeOf('wronghost'), 'ERR_TLS_CERT_ALTNAME_INVALID')
})

t.test('tls_verify: false is an explicit opt-out, logged as a warning at start naming the upstream', async (t) => {
  t.same(await get('/insecure/a'), { status: 200, body: { upstream: 'tls' } })
  t.equal(insecure.hits(), 1)
  t.equal(warnings('insecure'), 1, 'one warning at start')
  const line = lines.find((l) => l.reason === 'upstream_tls_unverified')
  t.match(line?.msg, /^upstream insecure: TLS certificate verification is OFF/)
  t.equal(line?.origin, insecure.url)
  t.equal(warnings('strict') + warnings('pinned') + warnings('wronghost'), 0, 'only the opted-out upstream')
})

t.test('a reload with new TLS settings takes effect for the next request, and warns again', async (t) => {
  writeFileSync(base.routesFile, routeMap({ strict: `, ca: "${CA}"`, insecure: ', tls_verify: false', wrongHost: ', tls_verify: false' }))
  t.ok(await base.watcher.reload('test'), 'reloaded')
  t.same(await get('/strict/b'), { status: 200, body: { upstream: 'tls' } }, 'strict now pins the CA')
  t.same(await get('/wronghost/b'), { status: 200, body: { upstream: 'tls' } }, 'wronghost now unverified')
  t.equal(warnings('insecure'), 2, 'the reload warned again about insecure')
  t.equal(warnings('wronghost'), 1, 'and about wronghost')

  writeFileSync(base.routesFile, routeMap({}))
  t.ok(await base.watcher.reload('test'), 'reloaded')
  const before = insecure.hits()
  t.same(await get('/insecure/c'), { status: 502, body: BAD_GATEWAY }, 'verification back on: its Agent is gone')
  t.equal(insecure.hits(), before)
  t.same(await get('/strict/c'), { status: 502, body: BAD_GATEWAY }, 'the pinned CA is gone too')
  t.same(await get('/pinned/c'), { status: 200, body: { upstream: 'tls' } }, 'an unchanged upstream keeps working')
  t.equal(warnings('insecure'), 2, 'no warning without tls_verify: false')
})
