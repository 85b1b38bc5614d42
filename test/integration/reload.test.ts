// Hot reload through real gateways: under load, the access diff each reload logs, and the `scopes` section the consent page reads.
import t from 'tap'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway, writeRoutes } from '../helpers/gateway.js'
import { Jar, loginThrough } from '../helpers/login-form.js'
import { seedUser } from '../helpers/oauth.js'
import { loadConfig } from '../../src/config/env.js'
import { startGateway } from '../../src/server.js'
import { captureLogs, type LogLine } from '../helpers/log-capture.js'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { accessDiffOnSwap } from '../../src/access/reload-log.js'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import type { RouteTable } from '../../src/config/route-types.js'

// Fixtures of the later sections, set up before any test is defined: tap ends the file's root test
// once it is idle, so no section may still be awaiting its setup when the tests above it finish.
// For the section "Every hot reload logs its access diff (issue 13 item 6): one…":
const HEAD = `version: 1
upstreams:
  orders: { url: http://127.0.0.1:9001 }
  billing: { url: http://127.0.0.1:9002 }
routes:
`
const BASE = `${HEAD}  - { path: /orders/*, methods: [GET], upstream: orders, scopes: [orders:read] }
  - { path: /billing/*, methods: [GET, DELETE], upstream: billing, scopes: [billing:read, billing:write] }
`
const routesFile = writeRoutes(BASE)
const { logger, lines } = captureLogs()
const gw = await startGateway(loadConfig({ ROUTES_FILE: routesFile, PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info' }), { logger })
t.teardown(() => gw.close())

const accessLines = (from: number): LogLine[] => lines.slice(from).filter((l) => String(l.reason).startsWith('routes_access_'))
/** The diff runs after the swap, in slices of the event loop: its last line says it is complete. */
async function diffLogged (from: number): Promise<LogLine> {
  for (;;) {
    const done = lines.slice(from).find((l) => l.reason === 'routes_reload_diffed')
    if (done !== undefined) return done
    await new Promise((resolve) => setImmediate(resolve))
  }
}

// Hot reload under load (issue 2 point 5): 20 reloads while requests flow, zero failures;
// an invalid edit is kept out and the old map keeps serving.

const echo = await startEchoUpstream()
t.teardown(() => echo.close())

const mapA = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
defaults: { auth: none }
routes:
  - path: /stable/*
    upstream: echo
`
const mapB = mapA + `  - path: /extra/*
    upstream: echo
`

async function until (what: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await what()) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return false
}

t.test('20 reloads under concurrent load: zero failed requests', async (t) => {
  const gw = await startTestGateway(t, { routes: mapA })
  let running = true
  const statuses: number[] = []
  const workers = Array.from({ length: 8 }, async () => {
    while (running) {
      const r = await fetch(`${gw.url}/stable/x`).then((res) => { void res.arrayBuffer(); return res.status }, () => 0)
      statuses.push(r)
    }
  })
  let swapped = 0
  for (let i = 0; i < 20; i++) {
    writeFileSync(gw.routesFile, i % 2 === 0 ? mapB : mapA)
    if (await gw.watcher.reload(`test ${i}`)) swapped++
    // requests answered between this reload and the next (however fast the machine is): at least 5
    const seen = statuses.length
    const deadline = Date.now() + 15_000 // a hang guard
    while (statuses.length < seen + 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  }
  running = false
  await Promise.all(workers)
  t.equal(swapped, 20, 'every reload was applied')
  t.ok(statuses.length >= 100, `requests ran between every two reloads (${statuses.length} in all)`)
  t.same(statuses.filter((s) => s !== 200), [], 'no request failed')
})

t.test('the watcher picks up in-place writes and atomic renames; an invalid edit keeps the old map', async (t) => {
  const gw = await startTestGateway(t, { routes: mapA })
  await gw.watcher.start()
  t.equal((await fetch(`${gw.url}/extra/x`)).status, 404)

  writeFileSync(gw.routesFile, mapB) // in place
  t.ok(await until(async () => (await fetch(`${gw.url}/extra/x`)).status === 200), 'in-place write applied')

  const tmp = gw.routesFile + '.tmp'
  writeFileSync(tmp, mapA)
  renameSync(tmp, gw.routesFile) // as editors do
  t.ok(await until(async () => (await fetch(`${gw.url}/extra/x`)).status === 404), 'atomic rename applied')

  writeFileSync(gw.routesFile, mapB + '  - path: /broken\n    upstream: nowhere\n')
  t.equal(await gw.watcher.reload('test'), false, 'the invalid map is refused')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await fetch(`${gw.url}/stable/x`)).status, 200, 'the old map still serves')
  t.equal((await fetch(`${gw.url}/extra/x`)).status, 404, 'nothing of the invalid map went live')
})

// Every hot reload logs its access diff (issue 13 item 6): one line per entry that widens (warn) or
// only narrows (info), through a real gateway (startGateway, as `portcullis serve` runs it) and a
// real RouteWatcher reload of the file.
// Its fixtures are set up at the top of this file.

t.test('a reload that widens: one warn line per widened entry, naming who gains', async (t) => {
  const from = lines.length
  // /orders/* no longer needs a token; /billing/* GET needs one scope fewer
  writeFileSync(routesFile, `${HEAD}  - { path: /orders/*, methods: [GET], upstream: orders, auth: none }
  - { path: /billing/*, methods: [GET, DELETE], upstream: billing, scopes: [billing:read] }
`)
  t.equal(await gw.watcher.reload('SIGHUP'), true)
  t.notOk(lines.slice(from).some((l) => l.reason === 'routes_reload_diffed'), 'the reload does not wait for its access diff')
  t.match(await diffLogged(from), { level: 30, widened: 3, narrowed: 0, msg: 'route map reload: access diff logged (3 widened, 0 narrowed entries)' })
  const got = accessLines(from)
  t.same(got.map((l) => [l.level, l.reason, l.method, l.path]), [
    [40, 'routes_access_widened', 'GET', '/billing/*'],
    [40, 'routes_access_widened', 'DELETE', '/billing/*'],
    [40, 'routes_access_widened', 'GET', '/orders/*']
  ], 'pino level 40 is warn')
  t.match(got[2], {
    before: { auth: 'required', scopes: ['orders:read'] }, after: { auth: 'none', scopes: [] },
    gain: ['anonymous callers and tokens without orders:read'], lose: [],
    msg: 'route map reload WIDENS access to GET /orders/*: gain: anonymous callers and tokens without orders:read'
  })
  t.same(got[0]!.gain, ['tokens with billing:read but without billing:write'])
})

t.test('a reload that only narrows: info lines; an unchanged entry logs nothing', async (t) => {
  const from = lines.length
  writeFileSync(routesFile, `${HEAD}  - { path: /orders/*, methods: [GET], upstream: orders, auth: none }
  - { path: /billing/*, methods: [GET], upstream: billing, scopes: [billing:read, billing:audit] }
`)
  t.equal(await gw.watcher.reload('SIGHUP'), true)
  await diffLogged(from)
  t.same(accessLines(from).map((l) => [l.level, l.reason, l.method, l.path, l.change]), [
    [30, 'routes_access_narrowed', 'GET', '/billing/*', 'changed'],
    [30, 'routes_access_narrowed', 'DELETE', '/billing/*', 'removed']
  ], 'pino level 30 is info')
  t.ok(lines.slice(from).some((l) => l.reason === 'routes_reloaded'), 'after the usual reload line')
})

t.test('a reload waiting for an earlier access diff keeps the routes it compares, not the replaced tables', async (t) => {
  // each table's router (find-my-way's trees and matchers) is ~80 % of it; three reloads in a row
  // queue two diffs, and the tables they compare are garbage as soon as a later one replaces them
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const diffed: LogLine[] = []
  const quiet = { info: (o: object) => { diffed.push(o as LogLine) }, warn: () => {}, error: () => {} }
  const onSwap = accessDiffOnSwap(quiet)
  const map = (n: number): string => `${HEAD}${Array.from({ length: n }, (_, i) => `  - { path: /r${i}/*, methods: [GET], upstream: orders }\n`).join('')}`
  let a: RouteTable | null = compileRouteMap(map(50), 'a.yaml')
  let b: RouteTable | null = compileRouteMap(map(60), 'b.yaml')
  const c = compileRouteMap(map(70), 'c.yaml')
  const refs = [new WeakRef(a), new WeakRef(b)]
  onSwap(b, a)
  onSwap(c, b)
  a = null; b = null
  await new Promise((resolve) => setImmediate(resolve)) // the WeakRefs are kept for the job that made them
  gc()
  t.same(refs.map((r) => r.deref() === undefined), [true, true], 'both replaced tables collected while their diffs are pending')
  while (diffed.filter((l) => l.reason === 'routes_reload_diffed').length < 2) await new Promise((resolve) => setImmediate(resolve))
  t.match(diffed.filter((l) => l.reason === 'routes_reload_diffed'), [{ narrowed: 0 }, { narrowed: 0 }], 'and both diffs still logged')
  t.equal(diffed.filter((l) => l.reason === 'routes_access_narrowed').length, 0)
})

t.test('the route map\'s `scopes` section reaches the consent page; a reload brings a new one (README "Mobile clients")', async (t) => {
  await seedUser(gw.store, 'alice', 'alice-password', ['orders:read'])
  await gw.store.putClient({ id: 'third', secretHash: null, grants: ['authorization_code'], scopes: ['orders:read'], redirectUris: ['http://127.0.0.1/cb'], disabled: false, createdAt: 0, consent: true })
  const authorize = `/oauth/authorize?${new URLSearchParams({
    response_type: 'code', client_id: 'third', redirect_uri: 'http://127.0.0.1/cb', scope: 'orders:read', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256'
  }).toString()}`
  const consent = async (): Promise<string> => (await loginThrough(gw.app, authorize, new Jar(), 'alice', 'alice-password')).body
  t.ok((await consent()).includes('<li><code>orders:read</code></li>'), 'no `scopes` section: the scope alone')
  // the same routes (no access diff), now with a `scopes` section
  writeFileSync(routesFile, `${readFileSync(routesFile, 'utf8')}scopes:\n  orders:read: See your orders & their <status>\n`)
  t.equal(await gw.watcher.reload('SIGHUP'), true)
  t.ok((await consent()).includes('<li><code>orders:read</code>: See your orders &amp; their &lt;status&gt;</li>'), 'its description beside the scope, escaped')
})
