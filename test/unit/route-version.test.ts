// The route-map version (issue 13 item 4): sha256 over the compiled map's canonical JSON, first 12
// hex chars. Edits that change nothing the gateway enforces keep it; any change of access or
// forwarding changes it; the reload log line carries it.
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import { RouteWatcher } from '../../src/config/route-watcher.js'
import { canonicalJson, normalisedRouteMap, routeContent, routeJson } from '../../src/config/route-version.js'

const BASE = `version: 1
upstreams:
  orders: { url: http://127.0.0.1:9001, timeout: 5s }
routes:
  - path: /orders/*
    methods: [GET, HEAD]
    upstream: orders
    scopes: [orders:read]
  - path: /catalog/*
    upstream: orders
    auth: none
`
const version = (text: string): string => compileRouteMap(text, 'routes.yaml').version

t.test('the same map, however it is written, has one version', async (t) => {
  const v = version(BASE)
  t.match(v, /^[0-9a-f]{12}$/)
  const same: Array<[string, string]> = [
    ['whitespace only', BASE.replaceAll('\n', '\n\n').replaceAll(': ', ':   ')],
    ['comments', `# the map\n${BASE.replace('scopes: [orders:read]', 'scopes: [orders:read]   # readers')}`],
    ['key order', BASE.replace('    methods: [GET, HEAD]\n    upstream: orders\n', '    upstream: orders\n    methods: [GET, HEAD]\n')],
    ['flow vs block style', BASE.replace('scopes: [orders:read]', 'scopes:\n      - orders:read')],
    ['another spelling of the same duration', BASE.replace('timeout: 5s', 'timeout: 5000ms')],
    ['route order (routes never overlap: order decides nothing)',
      `version: 1\nupstreams:\n  orders: { url: http://127.0.0.1:9001, timeout: 5s }\nroutes:\n  - path: /catalog/*\n    upstream: orders\n    auth: none\n  - path: /orders/*\n    methods: [GET, HEAD]\n    upstream: orders\n    scopes: [orders:read]\n`]
  ]
  for (const [why, text] of same) t.equal(version(text), v, why)
})

t.test('any change of access or forwarding is a new version', async (t) => {
  const v = version(BASE)
  const changed: Array<[string, string]> = [
    ['a scope edit', BASE.replace('orders:read', 'orders:write')],
    ['a method added', BASE.replace('[GET, HEAD]', '[GET, HEAD, POST]')],
    ['auth mode', BASE.replace('auth: none', 'auth: optional')],
    ['upstream URL', BASE.replace('9001', '9002')],
    ['upstream timeout', BASE.replace('timeout: 5s', 'timeout: 6s')],
    ['a rate limit', `${BASE}    rate_limit: { limit: 5, window: 1m, by: ip }\n`],
    ['a scope description (the consent page shows it)', `${BASE}scopes:\n  orders:read: See your orders\n`]
  ]
  for (const [why, text] of changed) t.not(version(text), v, why)
  const described = `${BASE}scopes:\n  orders:read: See your orders\n`
  t.not(version(described.replace('See your orders', 'Read your orders')), version(described), 'a description edited')
})

t.test('the version hashes exactly the canonical JSON of each route (routeJson writes it without the generic walk)', async (t) => {
  const varied = `${BASE}  - path: /upload/:id
    methods: [POST, PUT]
    upstream: orders
    scopes: [files:write, "x!y~"]
    body_limit: 2mb
    forward_token: false
    rate_limit: off
  - path: /limited
    upstream: orders
    rate_limit: { limit: 5, window: 1m, by: ip }
    auth: none
scopes:
  orders:read: See "your" orders
`
  const table = compileRouteMap(varied, 'routes.yaml')
  t.equal(table.routes.length, 4)
  for (const r of table.routes) t.equal(routeJson(r), canonicalJson(routeContent(r)), r.id)
  const generic = canonicalJson({
    routes: [...table.routes].sort((a, b) => a.id < b.id ? -1 : 1).map(routeContent),
    upstreams: [...table.upstreams.values()].map((u) => ({ name: u.name, origin: u.origin, basePath: u.basePath, timeoutMs: u.timeoutMs })),
    scopes: Object.fromEntries(table.scopeDescriptions ?? [])
  })
  t.equal(normalisedRouteMap(table.routes, table.upstreams.values(), table.scopeDescriptions), generic)
})

t.test('canonical JSON: keys sorted at every level, undefined members left out', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined }], c: null } }), '{"a":{"c":null,"d":[2,{"z":1}]},"b":1}')
})

t.test('the reload log line names the new version', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-version-'))
  const file = join(dir, 'routes.yaml')
  writeFileSync(file, BASE)
  const lines: Array<Record<string, unknown>> = []
  const log = (obj: object): void => { lines.push(obj as Record<string, unknown>) }
  const watcher = new RouteWatcher(file, compileRouteMap(BASE, file), { info: log, warn: log, error: log })
  const outcomes: string[] = []
  watcher.onReload((o) => { outcomes.push(o) })
  writeFileSync(file, BASE.replace('orders:read', 'orders:admin'))
  t.equal(await watcher.reload('SIGHUP'), true)
  writeFileSync(file, 'version: 1\nroutes: 3\n')
  t.equal(await watcher.reload('SIGHUP'), false)
  const reloaded = lines.find((l) => l.reason === 'routes_reloaded')
  t.equal(reloaded?.version, version(BASE.replace('orders:read', 'orders:admin')))
  t.equal(reloaded?.version, watcher.current().version)
  t.same(outcomes, ['success', 'rejected'], 'every reload reports its outcome (metrics)')
})
