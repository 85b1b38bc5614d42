// The access diff, the registry lint and reachability (src/access/) on real compiled route maps:
// what widens (someone reaches what they could not), what narrows, and who, in scopes and in clients
// and users. The CLI and the store around them: test/integration/routes-cli.test.ts.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { accessDiff, diffExitCode, type AccessDiff, type DiffEntry } from '../../src/access/diff.js'
import { coveredBy } from '../../src/access/coverage.js'
import { lintRegistry } from '../../src/access/lint.js'
import { accessAnswer, reachable } from '../../src/access/reach.js'
import type { Registry } from '../../src/access/registry.js'
import { parseRoutePath, type RoutePattern } from '../../src/config/route-map-schema.js'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import type { RouteTable } from '../../src/config/route-types.js'
import { ROOT_URL } from '../helpers/root.js'

const FIXTURES = new URL('test/fixtures/routes/', ROOT_URL)
const fixture = (name: string): RouteTable => compileRouteMap(readFileSync(new URL(name, FIXTURES), 'utf8'), name)

const UPSTREAMS = `version: 1
upstreams:
  a: { url: http://127.0.0.1:9001 }
  b: { url: http://127.0.0.1:9002 }
  a2: { url: http://127.0.0.1:9001 }
`
/** A map from route lines (YAML flow mappings, one per line). */
const map = (...routes: string[]): RouteTable =>
  compileRouteMap(UPSTREAMS + (routes.length === 0 ? 'routes: []\n' : `routes:\n${routes.map((r) => `  - ${r}\n`).join('')}`), 'inline.yaml')
const only = (d: AccessDiff): DiffEntry => {
  if (d.entries.length !== 1) throw new Error(`expected one entry, got ${JSON.stringify(d.entries, null, 1)}`)
  return d.entries[0]!
}

// the registry the fixture tests use: clients and users with the scopes they may be granted
const REGISTRY: Registry = {
  clients: [
    { id: 'accountant', scopes: ['billing:read', 'reports:read'], disabled: false },
    { id: 'reporter', scopes: ['reports:read', 'reports:daily'], disabled: false },
    { id: 'shop', scopes: ['orders:read', 'orders:write'], disabled: true }
  ],
  users: [
    { name: 'alice', scopes: ['orders:read', 'billing:read', 'reports:read'], disabled: false },
    { name: 'bob', scopes: ['reports:read', 'reports:daily'], disabled: false }
  ]
}

t.test('coverage: whether other patterns match every path a pattern matches', async (t) => {
  const p = (s: string): RoutePattern => parseRoutePath(s) as RoutePattern
  const rows: Array<[string, string[], boolean, string]> = [
    ['/a/b', ['/a/:x'], true, 'a parameter takes any segment'],
    ['/a/:x', ['/a/b'], false, 'one static segment is not every segment'],
    ['/a/:x', ['/a/b', '/a/:y'], true, 'the statics and the rest'],
    ['/a/:x/b', ['/a/*'], true, 'a wildcard takes everything below'],
    ['/a/*', ['/a/:x/*'], false, '/a itself is not matched by /a/:x/*'],
    ['/a/*', ['/a', '/a/:x/*'], false, 'the trailing slash /a/ is matched only by /a/*'],
    ['/a/*', ['/a/*'], true, 'the same pattern'],
    ['/a/*', ['/*'], true, 'a wildcard higher up'],
    ['/a', ['/b'], false, 'other static'],
    ['/', ['/'], true, 'the root']
  ]
  for (const [pattern, others, want, why] of rows) t.equal(coveredBy(p(pattern), others.map(p)), want, `${pattern} by ${others.join(' + ')}: ${why}`)
})

t.test('one entry per route and method: what each change does to access', async (t) => {
  const R = '{ path: /x/*, methods: [GET], upstream: a'
  const rows: Array<{ why: string, old: string[], new: string[], access: DiffEntry['access'], reasons: string[], change?: string, changed?: string[] }> = [
    { why: 'a scope dropped: tokens without it gain', old: [`${R}, scopes: [s1, s2] }`], new: [`${R}, scopes: [s1] }`], access: 'widens', reasons: ['scopes'], changed: ['scopes'] },
    { why: 'a scope added: tokens without it lose', old: [`${R}, scopes: [s1] }`], new: [`${R}, scopes: [s1, s2] }`], access: 'narrows', reasons: ['scopes'] },
    { why: 'a scope swapped: both', old: [`${R}, scopes: [s1] }`], new: [`${R}, scopes: [s2] }`], access: 'widens_and_narrows', reasons: ['scopes', 'scopes'] },
    { why: 'all scopes dropped: any valid token', old: [`${R}, scopes: [s1] }`], new: [`${R} }`], access: 'widens', reasons: ['scopes'] },
    { why: 'auth: none on a protected route', old: [`${R}, scopes: [s1] }`], new: [`${R}, auth: none }`], access: 'widens', reasons: ['now_public'], changed: ['auth', 'scopes'] },
    { why: 'auth: optional on an any-token route lets anonymous callers in', old: [`${R} }`], new: [`${R}, auth: optional }`], access: 'widens', reasons: ['now_public'] },
    { why: 'auth: none to required', old: [`${R}, auth: none }`], new: [`${R} }`], access: 'narrows', reasons: ['now_protected'] },
    { why: 'none to optional: still anyone', old: [`${R}, auth: none }`], new: [`${R}, auth: optional }`], access: 'unchanged', reasons: [], changed: ['auth'] },
    { why: 'a new route', old: [], new: [`${R}, scopes: [s1] }`], access: 'widens', reasons: ['new_paths'], change: 'added' },
    { why: 'a route removed', old: [`${R}, scopes: [s1] }`], new: [], access: 'narrows', reasons: ['removed_paths'], change: 'removed' },
    { why: 'a path that matches more (/x/:id to /x/*)', old: ['{ path: /x/:id, methods: [GET], upstream: a, scopes: [s1] }'], new: [`${R}, scopes: [s1] }`], access: 'widens', reasons: ['new_paths'], changed: ['path'] },
    { why: 'a path that matches less (/x/* to /x/:id)', old: [`${R}, scopes: [s1] }`], new: ['{ path: /x/:id, methods: [GET], upstream: a, scopes: [s1] }'], access: 'narrows', reasons: ['removed_paths'], changed: ['path'] },
    { why: 'another upstream URL behind the same paths: both', old: [`${R}, scopes: [s1] }`], new: ['{ path: /x/*, methods: [GET], upstream: b, scopes: [s1] }'], access: 'widens_and_narrows', reasons: ['upstream', 'upstream'] },
    { why: 'an upstream renamed, same URL: no access change', old: [`${R}, scopes: [s1] }`], new: ['{ path: /x/*, methods: [GET], upstream: a2, scopes: [s1] }'], access: 'unchanged', reasons: [], changed: ['upstream'] },
    { why: 'forward_token only: listed, no access change', old: [`${R} }`], new: [`${R}, forward_token: false }`], access: 'unchanged', reasons: [], changed: ['forward_token'] },
    { why: 'rate limit mode only (batched to exact): listed, no access change', old: [`${R}, rate_limit: { limit: 5, window: 1m, by: ip } }`], new: [`${R}, rate_limit: { limit: 5, window: 1m, by: ip, mode: exact } }`], access: 'unchanged', reasons: [], changed: ['rate_limit'] }
  ]
  for (const row of rows) {
    const e = only(accessDiff(map(...row.old), map(...row.new)))
    t.equal(e.access, row.access, `${row.why}: ${row.access}`)
    t.same([...e.widens, ...e.narrows].map((x) => x.reason), row.reasons, `${row.why}: reasons`)
    if (row.change !== undefined) t.equal(e.change, row.change, `${row.why}: ${row.change}`)
    if (row.changed !== undefined) t.same(e.changed, row.changed, `${row.why}: fields`)
  }
  t.same(accessDiff(map(`${R} }`), map(`${R} }`)).entries, [], 'an identical map: no entries')
})

t.test('a method is an entry of its own', async (t) => {
  const d = accessDiff(map('{ path: /x, methods: [GET], upstream: a }'), map('{ path: /x, methods: [GET, DELETE], upstream: a }'))
  t.same(d.entries.map((e) => [e.method, e.change, e.access]), [['DELETE', 'added', 'widens']], 'GET unchanged, DELETE added')
  const split = accessDiff(map('{ path: /x/*, methods: [GET], upstream: a }'), map('{ path: /x, methods: [GET], upstream: a }', '{ path: /x/:id, methods: [GET], upstream: a }'))
  t.equal(split.access, 'narrows', 'splitting /x/* into /x and /x/:id drops /x/ and /x/a/b')
  t.notOk(split.entries.some((e) => e.widens.length > 0), 'and serves no path /x/* did not')
})

t.test('the fixtures: exit codes 0, 1 and 3', async (t) => {
  const old = fixture('access-old.yaml')
  const same = accessDiff(old, fixture('access-same.yaml'))
  t.equal(diffExitCode(same), 0, 'reordered, renamed upstream, rate limit, forward_token, body limit: 0')
  t.ok(same.entries.length > 0, 'the edits are still listed')
  t.ok(same.entries.every((e) => e.access === 'unchanged'))

  const narrow = accessDiff(old, fixture('access-narrow.yaml'))
  t.equal(diffExitCode(narrow), 1, 'narrowing only: 1')
  t.same(narrow.entries.map((e) => `${e.access} ${e.method} ${e.path}`), [
    'narrows GET /billing/invoices/:id', 'narrows GET /catalog/*', 'narrows DELETE /orders/*', 'narrows GET /reports/daily'
  ])
  t.same(narrow.entries[0]!.scopes, { no_longer_required: [], newly_required: ['billing:admin'] })

  const widen = accessDiff(old, fixture('access-widen.yaml'))
  t.equal(diffExitCode(widen), 3, 'any widening: 3, even with a narrowing beside it')
  t.same(widen.entries.map((e) => `${e.access} ${e.method} ${e.path}`), [
    'widens GET /billing/invoices/*', 'widens PUT /orders/*', 'widens_and_narrows GET /reports/daily', 'widens GET /status'
  ])
  t.equal(widen.registry, false, 'scopes only without a registry')
  t.notOk('clients' in widen.entries[0]!, 'and no client lists')
})

t.test('with a registry: which clients and users gain or lose each route and method', async (t) => {
  const widen = accessDiff(fixture('access-old.yaml'), fixture('access-widen.yaml'), REGISTRY)
  t.equal(widen.registry, true)
  const who = (e: DiffEntry): object => ({ entry: `${e.method} ${e.path}`, clients: e.clients, users: e.users })
  t.same(widen.entries.map(who), [
    { entry: 'GET /billing/invoices/*', clients: { gain: ['accountant'], lose: [] }, users: { gain: ['alice'], lose: [] } },
    { entry: 'PUT /orders/*', clients: { gain: ['shop'], lose: [] }, users: { gain: [], lose: [] } },
    { entry: 'GET /reports/daily', clients: { gain: ['reporter'], lose: ['accountant'] }, users: { gain: ['bob'], lose: ['alice'] } },
    { entry: 'GET /status', clients: { gain: ['accountant', 'reporter', 'shop'], lose: [] }, users: { gain: ['alice', 'bob'], lose: [] } }
  ], 'a disabled client (shop) is listed: enabling it brings the access back')
  const narrow = accessDiff(fixture('access-old.yaml'), fixture('access-narrow.yaml'), REGISTRY)
  t.same(narrow.entries.map(who)[0], { entry: 'GET /billing/invoices/:id', clients: { gain: [], lose: ['accountant'] }, users: { gain: [], lose: ['alice'] } })
  t.same(narrow.entries.map(who)[1], { entry: 'GET /catalog/*', clients: { gain: [], lose: [] }, users: { gain: [], lose: [] } },
    'auth: none to any valid token: every client and user still reaches it (only anonymous callers lose)')
})

t.test('registry lint: errors and warnings kept apart', async (t) => {
  const narrow = lintRegistry(fixture('access-narrow.yaml'), REGISTRY)
  t.same(narrow.errors.map((f) => [f.code, f.route, f.scopes]), [['unreachable_route', 'GET /billing/invoices/:id', ['billing:admin']]],
    'a scope no client may be granted: the route is unreachable')
  t.same(narrow.warnings.map((f) => [f.code, f.scopes, f.clients]), [
    ['dead_grant', ['reports:daily'], ['reporter']],
    ['dead_grant', ['reports:read'], ['accountant', 'reporter']]
  ], 'scopes granted that no route requires')
  const widen = lintRegistry(fixture('access-widen.yaml'), REGISTRY)
  t.same(widen.errors, [])
  t.same(widen.warnings.map((f) => [f.code, f.route, f.upstream, f.protected_routes]), [
    ['public_on_protected_upstream', 'GET /status', 'billing', ['GET /billing/invoices/*', 'GET /reports/daily']]
  ], 'auth: none on an upstream that serves protected routes; /catalog/* (only public routes there) is fine')
  const split = lintRegistry(map('{ path: /x, upstream: a, scopes: [orders:read, billing:read] }'), REGISTRY)
  t.match(split.errors, [{ code: 'unreachable_route', message: /no single client may be granted all of orders:read billing:read/ }],
    'each scope grantable, but not both to one client: no token carries both')
})

t.test('who can reach what: every route and method a token with given scopes passes', async (t) => {
  const table = fixture('access-widen.yaml')
  t.same(reachable(table, ['orders:read']).map((r) => `${r.method} ${r.path}${r.public ? ' public' : ''}`),
    ['GET /catalog/* public', 'GET /orders/*', 'HEAD /orders/*', 'GET /status public'])
  t.same(reachable(table, ['reports:read']).filter((r) => !r.public), [], 'one of two required scopes is not enough')
  const answer = accessAnswer(table, { client: 'reporter' }, REGISTRY.clients[1]!)
  t.same(answer.reachable.find((r) => r.path === '/reports/daily'), {
    method: 'GET', path: '/reports/daily', route: 'GET /reports/daily', upstream: 'billing', auth: 'required', scopes: ['reports:read', 'reports:daily'], public: false
  })
  t.same({ selector: answer.selector, scopes: answer.scopes, disabled: answer.disabled }, { selector: { client: 'reporter' }, scopes: ['reports:read', 'reports:daily'], disabled: false })
})
