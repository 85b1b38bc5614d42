// The Grafana dashboard (issue 13 item 5) queries only metrics a real gateway serves: every metric
// name in its PromQL is looked up in the families of a live /metrics scrape (histogram series by
// their _bucket/_sum/_count names). The compose profile `observability` validates, and Prometheus
// scrapes the admin port the compose file sets.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { startTestGateway } from '../helpers/gateway.js'
import { metricTypes } from '../helpers/prometheus.js'

const root = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url))
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
