// Prometheus metrics of a real gateway, and the Grafana dashboard that queries them.
import t from 'tap'
import { writeFileSync, readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { GatewayMetrics } from '../../src/admin/metrics.js'
import { RedisStore } from '../../src/store/index.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { basic, seedClient } from '../helpers/oauth.js'
import { metricTypes, parseExposition, samples, value, type Sample } from '../helpers/prometheus.js'
import { startRedis } from '../helpers/redis-server.js'
import { mint, userClaims } from '../helpers/tokens.js'
import { ROOT_URL } from '../helpers/root.js'

// Prometheus metrics through a real in-process gateway (issue 13 items 1, 2, 4): a real Redis, a real
// echo upstream, the admin listener on its own port. Requests are made, /metrics is scraped and parsed
// (prom-client's text exposition), and names, labels and values are checked.

const redis = await startRedis()
t.teardown(() => redis.stop())
const echo = await startEchoUpstream()
t.teardown(() => echo.close())

const routes = (scope: string): string => `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /orders/*
    methods: [GET]
    upstream: echo
    scopes: [${scope}]
  - path: /limited
    upstream: echo
    auth: none
    rate_limit: { limit: 1, window: 1m, by: ip }
  - path: /admin/*
    upstream: echo
    auth: none
`
const metrics = new GatewayMetrics()
const store = new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'metrics-test:', observer: metrics })
t.teardown(() => store.close())
if (!await store.ready(5000)) throw new Error('test redis did not become ready')
// REVOCATION_MODE=strict: a per-request revocation read, so a frozen Redis shows in the counters at once
const gw = await startTestGateway(t, { routes: routes('orders:read'), store, metrics, env: { REVOCATION_MODE: 'strict' } })
await seedClient(store, 'svc', { secret: 'svc-secret', grants: ['client_credentials'], scopes: ['orders:read'] })
const admin = gw.admin!

async function scrape (): Promise<{ text: string, all: Sample[] }> {
  const res = await fetch(`${admin.url}/metrics`)
  t.equal(res.status, 200, '/metrics answers on the admin port')
  t.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  const text = await res.text()
  return { text, all: parseExposition(text) }
}

const reader = mint(gw.keys, userClaims(gw.config, { scope: 'orders:read' }))
const get = async (path: string, token?: string): Promise<number> => {
  const res = await fetch(gw.url + path, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  await res.arrayBuffer()
  return res.status
}

t.test('requests are counted by route id, method, status and reason; latency by route', async (t) => {
  t.equal(await get('/orders/1', reader), 200)
  t.equal(await get('/orders/2', reader), 200, 'the same token again: a token-cache hit')
  t.equal(await get('/orders/3'), 401)
  t.equal(await get('/orders/4', mint(gw.keys, userClaims(gw.config, { scope: 'other' }))), 403)
  t.equal(await get('/limited'), 200)
  t.equal(await get('/limited'), 429)
  const { all, text } = await scrape()
  const route = 'GET /orders/*'
  t.equal(value(all, 'portcullis_http_requests_total', { route, method: 'GET', status: '200', reason: 'none' }), 2)
  t.equal(value(all, 'portcullis_http_requests_total', { route, method: 'GET', status: '401', reason: 'token_missing' }), 1)
  t.equal(value(all, 'portcullis_http_requests_total', { route, method: 'GET', status: '403', reason: 'scope_missing' }), 1)
  const limited = gw.watcher.current().routes.find((r) => r.path === '/limited')!.id
  t.equal(value(all, 'portcullis_rate_limited_total', { route: limited }), 1, 'one 429, labelled with the route id')
  t.equal(value(all, 'portcullis_http_requests_total', { route: limited, status: '429', reason: 'rate_limited' }), 1)
  t.equal(value(all, 'portcullis_http_request_duration_seconds_count', { route }), 4)
  t.equal(value(all, 'portcullis_http_request_duration_seconds_bucket', { route, le: '+Inf' }), 4)
  t.equal(value(all, 'portcullis_upstream_duration_seconds_count', { upstream: 'echo' }), 3, 'the forwarded ones: two orders, the first /limited')
  t.equal(value(all, 'portcullis_pipeline_duration_seconds_count'), 3, 'time before forwarding: observed once per forwarded request')
  t.equal(value(all, 'portcullis_token_cache_hits_total'), 1)
  t.equal(value(all, 'portcullis_token_cache_misses_total'), 2, 'the first sight of each token')
  t.ok((value(all, 'portcullis_redis_command_duration_seconds_count') ?? 0) > 0, 'revocation checks and counters were Redis commands')
  t.equal(value(all, 'portcullis_redis_errors_total'), 0)
  t.equal(value(all, 'portcullis_store_up'), 1)
  t.equal(value(all, 'portcullis_revocation_feed_lag_seconds'), 0, 'strict mode: every check reads the store')
  const types = metricTypes(text)
  t.equal(types.get('portcullis_http_request_duration_seconds'), 'histogram')
  t.equal(types.get('portcullis_store_up'), 'gauge')
  t.ok(types.has('process_cpu_user_seconds_total') && types.has('nodejs_eventloop_lag_seconds'), "prom-client's default process metrics")
})

t.test('the hot-path series (src/admin/series.ts) expose what prom-client would: le inclusive, cumulative, +Inf = count', async (t) => {
  const m = new GatewayMetrics()
  const cell = m.requestDuration.cell('r')
  for (const v of [0.001, 0.0011, 0.05, 20]) cell.observe(v) // 0.001 and 0.05 sit on a bound: counted there (le means ≤)
  m.requests.cell('r', 'GET', '200', 'none').inc()
  m.requests.cell('r', 'GET', '200', 'none').inc(2)
  m.redisErrors.inc()
  const text = (await m.scrape()).body
  const all = parseExposition(text)
  const bucket = (le: string): number | undefined => value(all, 'portcullis_http_request_duration_seconds_bucket', { route: 'r', le })
  t.same([bucket('0.001'), bucket('0.0025'), bucket('0.025'), bucket('0.05'), bucket('10'), bucket('+Inf')], [1, 2, 2, 3, 3, 4])
  t.equal(value(all, 'portcullis_http_request_duration_seconds_count', { route: 'r' }), 4)
  t.ok(Math.abs((value(all, 'portcullis_http_request_duration_seconds_sum', { route: 'r' }) ?? 0) - 20.0521) < 1e-9, 'the sum')
  t.equal(value(all, 'portcullis_http_requests_total', { route: 'r', method: 'GET', status: '200', reason: 'none' }), 3, 'one series per label set, found again')
  t.equal(value(all, 'portcullis_redis_errors_total'), 1)
  t.equal(value(all, 'portcullis_pipeline_duration_seconds_count'), 0, 'an unlabelled histogram is exposed before its first observation')
  t.equal(metricTypes(text).get('portcullis_http_requests_total'), 'counter')
})

t.test('labels are route ids, never raw paths: 300 distinct unmatched paths make one series', async (t) => {
  const statuses = new Set<number>()
  for (let i = 0; i < 300; i++) statuses.add(await get(`/nowhere/${i}/${'x'.repeat(i % 7)}`))
  t.same([...statuses], [404])
  const { all } = await scrape()
  const routesSeen = new Set(samples(all, 'portcullis_http_requests_total').map((s) => s.labels.route))
  t.ok(routesSeen.has('none'))
  for (const r of routesSeen) t.notMatch(r, /nowhere/, `no raw path as a label: ${r}`)
  t.equal(value(all, 'portcullis_http_requests_total', { route: 'none', status: '404', reason: 'route_not_found' }), 300)
  t.equal(samples(all, 'portcullis_http_request_duration_seconds_count', { route: 'none' }).length, 1)
})

t.test('nothing of the admin listener is served on the proxy port', async (t) => {
  const metricsOnProxy = await fetch(`${gw.url}/metrics`)
  t.equal(metricsOnProxy.status, 404, '/metrics on the proxy port: no route, an ordinary 404')
  t.same(await metricsOnProxy.json(), { error: 'not_found', error_description: 'No route matches this path' })
  const before = echo.seen.length
  const res = await fetch(`${gw.url}/admin/status`)
  t.equal(res.status, 200)
  t.equal(echo.seen.length, before + 1, '/admin/status on the proxy port goes where the route map says: the upstream')
  t.equal(echo.seen.at(-1)?.url, '/admin/status')
})

t.test('token requests by grant and outcome', async (t) => {
  const token = async (auth: string): Promise<number> => (await fetch(`${gw.url}/oauth/token`, {
    method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials'
  })).status
  t.equal(await token(basic('svc', 'svc-secret')), 200)
  t.equal(await token(basic('svc', 'wrong')), 401)
  const { all } = await scrape()
  t.equal(value(all, 'portcullis_token_requests_total', { grant: 'client_credentials', outcome: 'issued' }), 1)
  t.equal(value(all, 'portcullis_token_requests_total', { grant: 'client_credentials', outcome: 'invalid_client' }), 1)
})

t.test('route-map version: /readyz, /admin/status and portcullis_route_map_info follow reloads', async (t) => {
  const v1 = gw.watcher.current().version
  t.match(v1, /^[0-9a-f]{12}$/)
  t.equal((await (await fetch(`${gw.url}/readyz`)).json() as { route_map_version: string }).route_map_version, v1)
  writeFileSync(gw.routesFile, routes('orders:write'))
  t.equal(await gw.watcher.reload('test'), true)
  writeFileSync(gw.routesFile, 'version: 2\n')
  t.equal(await gw.watcher.reload('test'), false)
  const v2 = gw.watcher.current().version
  t.not(v2, v1, 'a scope edit is a new version')
  const { all } = await scrape()
  t.same(samples(all, 'portcullis_route_map_info').map((s) => [s.labels.version, s.value]), [[v2, 1]], 'only the running version has a series')
  t.equal(value(all, 'portcullis_route_map_reloads_total', { outcome: 'success' }), 1)
  t.equal(value(all, 'portcullis_route_map_reloads_total', { outcome: 'rejected' }), 1)
  const status = await (await fetch(`${admin.url}/admin/status`)).json() as Record<string, unknown>
  t.equal(status.route_map_version, v2)
  t.equal((await (await fetch(`${gw.url}/readyz`)).json() as { route_map_version: string }).route_map_version, v2)
})

t.test('a Redis that stops answering: store_up 0 and errors counted', async (t) => {
  redis.pause()
  t.teardown(() => { redis.resume() })
  t.equal(await get('/orders/9', reader), 503, 'fail closed: the revocation check cannot be answered')
  const { all } = await scrape()
  t.equal(value(all, 'portcullis_store_up'), 0)
  t.ok((value(all, 'portcullis_redis_errors_total') ?? 0) >= 1, 'the unanswered revocation read was counted')
  t.equal(value(all, 'portcullis_http_requests_total', { route: 'GET /orders/*', status: '503', reason: 'store_unavailable' }), 1)
  redis.resume()
})

// The Grafana dashboard (issue 13 item 5) queries only metrics a real gateway serves: every metric
// name in its PromQL is looked up in the families of a live /metrics scrape (histogram series by
// their _bucket/_sum/_count names). The compose profile `observability` validates, and Prometheus
// scrapes the admin port the compose file sets.

const root = (path: string): string => fileURLToPath(new URL(path, ROOT_URL))
const read = (path: string): string => readFileSync(root(path), 'utf8')

interface Panel { title: string, datasource?: { uid?: string }, targets?: Array<{ expr: string }> }
const dashboard = JSON.parse(read('deploy/grafana/dashboards/portcullis.json')) as { panels: Panel[] }

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan'])

/** The metric names a PromQL expression selects: identifiers that are not functions, keywords, labels or ranges. */
function metricNames (expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping labels
  const names: string[] = []
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = bare.slice(m.index + m[0].length).trimStart()
    if (after.startsWith('(') || PROMQL_WORDS.has(m[0].toLowerCase())) continue
    names.push(m[0])
  }
  return names
}

t.test('the name extraction reads PromQL as intended', async (t) => {
  t.same(metricNames('histogram_quantile(0.95, sum by (le, upstream) (rate(portcullis_upstream_duration_seconds_bucket[$__rate_interval])))'),
    ['portcullis_upstream_duration_seconds_bucket'])
  t.same(metricNames('sum by (reason) (rate(portcullis_http_requests_total{reason!="none"}[5m])) / on (x) b_total'), ['portcullis_http_requests_total', 'b_total'])
})

t.test('every metric the dashboard queries exists in a real gateway\'s /metrics', async (t) => {
  const gw = await startTestGateway(t, { routes: 'version: 1\nupstreams: {}\nroutes: []\n', admin: true })
  const families = metricTypes(await (await fetch(`${gw.admin!.url}/metrics`)).text())
  const queried = new Set(dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((q) => metricNames(q.expr))))
  t.ok(queried.size >= 14, `the dashboard queries the gateway's metrics (${queried.size} names)`)
  for (const name of queried) {
    const family = name.replace(/_(bucket|sum|count)$/, '')
    const known = families.has(name) || (family !== name && families.get(family) === 'histogram')
    t.ok(known, `${name} is served by /metrics`)
  }
  for (const wanted of ['portcullis_http_requests_total', 'portcullis_rate_limited_total', 'portcullis_store_up', 'portcullis_redis_errors_total',
    'portcullis_token_requests_total', 'portcullis_route_map_reloads_total', 'portcullis_route_map_info']) {
    t.ok(queried.has(wanted), `the dashboard shows ${wanted}`)
  }
})

t.test('provisioning: datasource uid, dashboard folder and the scrape target agree with compose', async (t) => {
  const ds = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ uid: string, url: string }> }
  for (const p of dashboard.panels) t.equal(p.datasource?.uid, ds.datasources[0]!.uid, `${p.title}: the provisioned datasource`)
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, { environment?: Record<string, string>, profiles?: string[], volumes?: string[] }> }
  const prom = parse(read('deploy/prometheus/prometheus.yml')) as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> }
  t.same(prom.scrape_configs[0]!.static_configs[0]!.targets, [`gateway:${compose.services.gateway!.environment!.ADMIN_PORT}`], 'Prometheus scrapes the admin port')
  t.equal(compose.services.gateway!.environment!.ADMIN_METRICS_PUBLIC, '1', 'the scraper needs no token')
  t.same(compose.services.prometheus!.profiles, ['observability'])
  t.same(compose.services.grafana!.profiles, ['observability'])
})

t.test('docker-compose --profile observability config -q passes', async (t) => {
  const found = spawnSync('docker-compose', ['version'], { stdio: 'ignore' })
  if (found.error !== undefined) {
    t.fail('docker-compose is not on PATH: install it (Debian package docker-compose; .ci/run installs it) to validate the compose file')
    return
  }
  // the profile's config includes every service (.ci/run checks the file without the profile too)
  const r = spawnSync('docker-compose', ['--profile', 'observability', 'config', '-q'], { cwd: root(''), encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })
  t.equal(r.status, 0, `docker-compose --profile observability config -q: ${r.stderr}`)
})
