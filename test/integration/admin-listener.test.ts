// The admin listener and its endpoints: authentication, status, routes, then GET /admin/access.
import t from 'tap'
import { Server, createConnection } from 'node:net'
import { pino } from 'pino'
import Fastify from 'fastify'
import { loadConfig } from '../../src/config/env.js'
import { startGateway } from '../../src/server.js'
import { startTestGateway, writeRoutes } from '../helpers/gateway.js'
import { freePort } from '../helpers/spawn-gateway.js'
import { mint, userClaims } from '../helpers/tokens.js'
import { json, runCli } from '../fixtures/run-cli.js'
import { adminAccessPlugin } from '../../src/admin/access.js'
import { loadRouteTable } from '../../src/config/route-map-loader.js'
import { createStore, RedisStore } from '../../src/store/index.js'
import { startRedis } from '../helpers/redis-server.js'

// Fixtures of the later sections, set up before any test is defined: tap ends the file's root test
// once it is idle, so no section may still be awaiting its setup when the tests above it finish.
// For the section "GET /admin/access (src/admin/access.ts) on a bare Fastify in…":
const ACCESS_ROUTES = 'test/fixtures/routes/access-widen.yaml'
const redis = await startRedis()
const store = createStore({ redisUrl: redis.url, timeoutMs: 2000 })
if (store instanceof RedisStore) await store.ready(2000)
const now = Math.floor(Date.now() / 1000)
await store.putClient({ id: 'reporter', secretHash: null, grants: ['password'], scopes: ['reports:read', 'reports:daily'], disabled: false, createdAt: now })
await store.putUser({ name: 'alice', passwordHash: 'unused', scopes: ['orders:read', 'billing:read'], disabled: true, createdAt: now })
const table = await loadRouteTable(ACCESS_ROUTES)
const app = Fastify()
await app.register(adminAccessPlugin, { store, routes: { current: () => table } })
t.teardown(async () => { await app.close(); await store.close(); await redis.stop() })

// the process starts: the CLI's answer, compared below with the endpoint's, and a usage error
const cli = runCli(['access', '--client', 'reporter', '--json'], { env: { REDIS_URL: redis.url, ROUTES_FILE: ACCESS_ROUTES } })
const twoSelectors = runCli(['access', '--client', 'reporter', '--scopes', 'a'], { env: { REDIS_URL: redis.url, ROUTES_FILE: ACCESS_ROUTES } })

const get = async (query: string): Promise<{ status: number, body: any }> => {
  const res = await app.inject({ method: 'GET', url: `/admin/access${query}` })
  t.match(res.headers['content-type'], /^application\/json/, `${query}: JSON`)
  return { status: res.statusCode, body: res.json() }
}
const routesOf = (body: { reachable: Array<{ method: string, path: string, public: boolean }> }): string[] =>
  body.reachable.map((r) => `${r.method} ${r.path}${r.public ? ' public' : ''}`)

// The admin listener (issue 13 items 1, 4, 10) through real in-process gateways: ADMIN_AUTH=required
// admits only a gateway token with scope portcullis:admin, checked as at the edge (RFC 6750 §3.1
// refusals with WWW-Authenticate); ADMIN_METRICS_PUBLIC exempts /metrics only; /admin/status and
// /admin/routes answer what they promise; ADMIN_PORT=0 listens on nothing; `portcullis status`
// reads a running instance (one spawn with --json, one against nothing listening: exit 1).

const ROUTES = `
version: 1
upstreams:
  orders: { url: http://127.0.0.1:9, timeout: 2s }
routes:
  - path: /orders/*
    methods: [GET]
    upstream: orders
    scopes: [orders:read]
  - path: /open/*
    upstream: orders
    auth: none
    rate_limit: { limit: 5, window: 1m, by: ip }
`
const REALM = 'Bearer realm="portcullis"'

const gw = await startTestGateway(t, { routes: ROUTES, admin: true, env: { ADMIN_AUTH: 'required', ADMIN_METRICS_PUBLIC: '1' } })
const admin = gw.admin!
const token = (over: Record<string, unknown> = {}): string => mint(gw.keys, userClaims(gw.config, { scope: 'portcullis:admin', ...over }))

async function call (path: string, bearer?: string): Promise<{ status: number, challenge: string | null, body: unknown }> {
  const res = await fetch(admin.url + path, bearer === undefined ? {} : { headers: { authorization: `Bearer ${bearer}` } })
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch { /* /metrics is text */ }
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body }
}

t.test('ADMIN_AUTH=required: RFC 6750 §3.1 refusals, exactly as at the edge', async (t) => {
  const revoked = userClaims(gw.config, { scope: 'portcullis:admin' })
  await gw.store.revokeToken(revoked.jti, revoked.exp)
  const cases: Array<[string, string | undefined, number, string | null, unknown]> = [
    ['no token: 401 with a bare challenge', undefined, 401, REALM, { error: 'invalid_token', error_description: 'Missing bearer token' }],
    ['a valid token without portcullis:admin: 403 insufficient_scope naming the scope', token({ scope: 'orders:read' }), 403,
      `${REALM}, error="insufficient_scope", scope="portcullis:admin"`,
      { error: 'insufficient_scope', error_description: 'The access token lacks a required scope', scope: 'portcullis:admin' }],
    ['wrong audience: 401 invalid_token', token({ aud: 'someone-else' }), 401, `${REALM}, error="invalid_token", error_description="The access token is invalid"`, undefined],
    ['expired: 401 invalid_token', token({ exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }), 401,
      `${REALM}, error="invalid_token", error_description="The access token expired"`, undefined],
    ['revoked (check-revocation runs): 401', mint(gw.keys, revoked), 401, `${REALM}, error="invalid_token", error_description="The access token was revoked"`, undefined]
  ]
  for (const [why, bearer, status, challenge, body] of cases) {
    for (const path of ['/admin/status', '/admin/routes', '/admin/access?scopes=orders:read']) {
      const r = await call(path, bearer)
      t.equal(r.status, status, `${why} (${path})`)
      t.equal(r.challenge, challenge, `${why}: WWW-Authenticate`)
      if (body !== undefined) t.same(r.body, body, `${why}: JSON body`)
    }
  }
  const ok = await call('/admin/status', token())
  t.equal(ok.status, 200, 'a token with portcullis:admin is admitted')
})

t.test('ADMIN_METRICS_PUBLIC=1 exempts /metrics and nothing else', async (t) => {
  const metrics = await call('/metrics')
  t.equal(metrics.status, 200)
  t.match(metrics.body, /# TYPE portcullis_http_requests_total counter/)
  t.equal((await call('/metrics/', undefined)).status, 401, 'only the exact path is public')
  t.equal((await call('/admin/status?x=/metrics')).status, 401)
})

t.test('/admin/status: version, store, revocation, keys, uptime, package version', async (t) => {
  const { status, body } = await call('/admin/status', token())
  t.equal(status, 200)
  const s = body as Record<string, any>
  t.equal(s.route_map_version, gw.watcher.current().version)
  t.match(s.route_map_version, /^[0-9a-f]{12}$/)
  t.equal(s.routes, 2)
  t.same(s.store, { mode: 'memory', healthy: true, epoch: 'confirmed' })
  t.same(s.revocation, { mode: 'replicated', live: true, feed_lag_seconds: 0 }, 'the default; the memory store feeds its view in process, never behind')
  const kid = gw.keys.signingKey().kid
  t.same(s.signing_keys, { signing: kid, published: [kid] })
  t.type(s.uptime_seconds, 'number')
  t.equal(s.package_version, '0.1.0')
})

t.test('/admin/routes: the running map, no secrets', async (t) => {
  const { status, body } = await call('/admin/routes', token())
  t.equal(status, 200)
  const b = body as { version: string, routes: Array<Record<string, unknown>> }
  t.equal(b.version, gw.watcher.current().version)
  t.same(b.routes[0], {
    id: 'GET /orders/*', methods: ['GET'], path: '/orders/*', auth: 'required', scopes: ['orders:read'],
    rate_limit: null, forward_token: true, upstream: { name: 'orders', url: 'http://127.0.0.1:9' }
  })
  t.same(b.routes[1]!.rate_limit, { limit: 5, window_ms: 60_000, by: 'ip', mode: 'batched' })
  t.equal((await call('/admin/nothing', token())).status, 404, 'unknown admin paths: JSON 404')
})

t.test('/admin/access on the admin listener: every route and method reachable with the given scopes', async (t) => {
  const { status, body } = await call('/admin/access?scopes=orders:read', token())
  t.equal(status, 200)
  const reach = JSON.stringify(body)
  t.match(reach, /\/orders\/\*/, 'the scoped route is reachable with orders:read')
  t.match(reach, /\/open\/\*/, 'the public route too')
  const none = JSON.stringify((await call('/admin/access?scopes=other', token())).body)
  t.notMatch(none, /\/orders\/\*/, 'not with another scope')
  t.equal((await call('/admin/access?client=a&user=b', token())).status, 400, 'two selectors: 400')
})

/** Every listening server of this process. */
function listeningServers (): unknown[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()
  return handles.filter((h) => h instanceof Server && h.listening)
}

const listening = async (port: number): Promise<boolean> => await new Promise((resolve) => {
  const socket = createConnection({ port, host: '127.0.0.1' })
  socket.once('connect', () => { socket.destroy(); resolve(true) })
  socket.once('error', () => { resolve(false) })
})

t.test('startGateway: ADMIN_PORT=0 listens on nothing and measures nothing; a port is served and closed with the gateway', async (t) => {
  const routes = writeRoutes(ROUTES)
  const base = { ROUTES_FILE: routes, PORT: '0', HOST: '127.0.0.1', BCRYPT_COST: '4' }
  const before = listeningServers()
  const off = await startGateway(loadConfig({ ...base, ADMIN_PORT: '0' }), { logger: pino({ level: 'silent' }) })
  t.teardown(() => off.close())
  t.equal(off.admin, null, 'no admin listener')
  t.same(listeningServers().filter((s) => !before.includes(s)), [off.app.server], 'the proxy port is the only new listening socket')
  t.notOk(off.app.hasRequestDecorator('forwardedAtMs'), 'no metrics hook on the proxy app')
  await off.close()

  const port = await freePort()
  const on = await startGateway(loadConfig({ ...base, ADMIN_PORT: String(port) }), { logger: pino({ level: 'silent' }) })
  t.equal(on.admin?.url, `http://127.0.0.1:${port}`)
  t.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 200, 'loopback: ADMIN_AUTH defaults to none')
  await on.close()
  t.notOk(await listening(port), 'closed with the gateway')
})

t.test('portcullis status (spawned): --json from a running instance with ADMIN_TOKEN; unreachable: exit 1', async (t) => {
  const ok = await runCli(['status', '--url', admin.url, '--json'], { env: { ADMIN_TOKEN: token() } })
  t.equal(ok.code, 0, ok.stderr)
  const s = json(ok) as Record<string, unknown>
  t.equal(s.route_map_version, gw.watcher.current().version)
  t.same(s.store, { mode: 'memory', healthy: true, epoch: 'confirmed' })

  const port = await freePort()
  const down = await runCli(['status'], { env: { ADMIN_PORT: String(port) } })
  t.equal(down.code, 1)
  t.equal(down.stdout, '')
  t.equal(down.stderr, `portcullis: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`, 'one line on stderr')
})

// GET /admin/access (src/admin/access.ts) on a bare Fastify instance with a real Redis store and a
// real route table: each selector, the refusals as JSON, and the same answer as `portcullis access --json`.
// Its fixtures are set up at the top of this file.

t.test('?client=ID: the client\'s scopes from the store; the same JSON as `portcullis access --client ID --json`', async (t) => {
  const res = await get('?client=reporter')
  t.equal(res.status, 200)
  t.same(routesOf(res.body), ['GET /catalog/* public', 'GET /reports/daily', 'GET /status public'])
  t.same(res.body.selector, { client: 'reporter' })
  const run = await cli
  t.equal(run.code, 0, run.stderr)
  t.same(json(run), res.body, 'CLI and endpoint answer alike')
})

t.test('`portcullis access` with two selectors: a usage error, exit 2', async (t) => {
  t.same(await twoSelectors, { code: 2, stdout: '', stderr: 'portcullis: give exactly one of --client ID, --user NAME or --scopes "a b"\n' })
})

t.test('?user=NAME: usernames are case-insensitive; a disabled user is marked', async (t) => {
  const res = await get('?user=Alice')
  t.equal(res.status, 200)
  t.same(res.body.selector, { user: 'alice' })
  t.equal(res.body.disabled, true)
  t.same(routesOf(res.body), ['GET /billing/invoices/*', 'GET /catalog/* public', 'GET /orders/*', 'HEAD /orders/*', 'GET /status public'])
})

t.test('?scopes=a+b: a token with those scopes, no store read', async (t) => {
  const res = await get('?scopes=reports:read+reports:daily')
  t.equal(res.status, 200)
  t.same(res.body.scopes, ['reports:read', 'reports:daily'])
  t.same(routesOf(res.body), ['GET /catalog/* public', 'GET /reports/daily', 'GET /status public'])
  t.same(routesOf((await get('?scopes=')).body), ['GET /catalog/* public', 'GET /status public'], 'no scopes: public routes only')
})

t.test('a bad query: 400 invalid_request as JSON', async (t) => {
  for (const query of ['', '?client=a&user=b', '?client=a&client=b', '?host=x', '?scopes=a%22b', '?client=a%20b']) {
    const res = await get(query)
    t.equal(res.status, 400, query)
    t.match(res.body, { error: 'invalid_request', error_description: String }, query)
  }
})

t.test('an unknown client or user: 404 as JSON', async (t) => {
  t.same(await get('?client=nobody'), { status: 404, body: { error: 'not_found', error_description: 'No such client' } })
  t.same(await get('?user=nobody'), { status: 404, body: { error: 'not_found', error_description: 'No such user' } })
})
