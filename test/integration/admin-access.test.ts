// GET /admin/access (src/admin/access.ts) on a bare Fastify instance with a real Redis store and a
// real route table: each selector, the refusals as JSON, and the same answer as `portcullis access --json`.
import t from 'tap'
import Fastify from 'fastify'
import { adminAccessPlugin } from '../../src/admin/access.js'
import { loadRouteTable } from '../../src/config/route-map-loader.js'
import { createStore, RedisStore } from '../../src/store/index.js'
import { startRedis } from '../helpers/redis-server.js'
import { json, runCli } from '../fixtures/run-cli.js'

const ROUTES = 'test/fixtures/routes/access-widen.yaml'
const redis = await startRedis()
const store = createStore({ redisUrl: redis.url, timeoutMs: 2000 })
if (store instanceof RedisStore) await store.ready(2000)
const now = Math.floor(Date.now() / 1000)
await store.putClient({ id: 'reporter', secretHash: null, grants: ['password'], scopes: ['reports:read', 'reports:daily'], disabled: false, createdAt: now })
await store.putUser({ name: 'alice', passwordHash: 'unused', scopes: ['orders:read', 'billing:read'], disabled: true, createdAt: now })
const table = await loadRouteTable(ROUTES)
const app = Fastify()
await app.register(adminAccessPlugin, { store, routes: { current: () => table } })
t.teardown(async () => { await app.close(); await store.close(); await redis.stop() })

// the process starts: the CLI's answer, compared below with the endpoint's, and a usage error
const cli = runCli(['access', '--client', 'reporter', '--json'], { env: { REDIS_URL: redis.url, ROUTES_FILE: ROUTES } })
const twoSelectors = runCli(['access', '--client', 'reporter', '--scopes', 'a'], { env: { REDIS_URL: redis.url, ROUTES_FILE: ROUTES } })

const get = async (query: string): Promise<{ status: number, body: any }> => {
  const res = await app.inject({ method: 'GET', url: `/admin/access${query}` })
  t.match(res.headers['content-type'], /^application\/json/, `${query}: JSON`)
  return { status: res.statusCode, body: res.json() }
}
const routesOf = (body: { reachable: Array<{ method: string, path: string, public: boolean }> }): string[] =>
  body.reachable.map((r) => `${r.method} ${r.path}${r.public ? ' public' : ''}`)

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
