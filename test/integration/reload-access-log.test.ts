// Every hot reload logs its access diff (issue 13 item 6): one line per entry that widens (warn) or
// only narrows (info), through a real gateway (startGateway, as `portcullis serve` runs it) and a
// real RouteWatcher reload of the file.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { loadConfig } from '../../src/config/env.js'
import { startGateway } from '../../src/server.js'
import { writeRoutes } from '../helpers/gateway.js'
import { captureLogs, type LogLine } from '../helpers/log-capture.js'

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
const gw = await startGateway(loadConfig({ ROUTES_FILE: routesFile, PORT: '0', LOG_LEVEL: 'info' }), { logger })
t.teardown(() => gw.close())

const accessLines = (from: number): LogLine[] => lines.slice(from).filter((l) => String(l.reason).startsWith('routes_access_'))

t.test('a reload that widens: one warn line per widened entry, naming who gains', async (t) => {
  const from = lines.length
  // /orders/* no longer needs a token; /billing/* GET needs one scope fewer
  writeFileSync(routesFile, `${HEAD}  - { path: /orders/*, methods: [GET], upstream: orders, auth: none }
  - { path: /billing/*, methods: [GET, DELETE], upstream: billing, scopes: [billing:read] }
`)
  t.equal(await gw.watcher.reload('SIGHUP'), true)
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
  t.same(accessLines(from).map((l) => [l.level, l.reason, l.method, l.path, l.change]), [
    [30, 'routes_access_narrowed', 'GET', '/billing/*', 'changed'],
    [30, 'routes_access_narrowed', 'DELETE', '/billing/*', 'removed']
  ], 'pino level 30 is info')
  t.ok(lines.slice(from).some((l) => l.reason === 'routes_reloaded'), 'after the usual reload line')
})
