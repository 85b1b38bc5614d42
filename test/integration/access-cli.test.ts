// `portcullis routes diff` and `routes check --registry` as real processes (the exit codes CI reads:
// 0 unchanged, 1 only narrows, 3 widens, 2 no diff made), with clients and users read from a real
// redis-server. The logic itself is tested in-process: test/unit/access-diff.test.ts.
import t from 'tap'
import { createStore, RedisStore } from '../../src/store/index.js'
import { freePort, startRedis } from '../helpers/redis-server.js'
import { json, runCli } from '../fixtures/run-cli.js'

const F = 'test/fixtures/routes/'
const OLD = `${F}access-old.yaml`
const redis = await startRedis()
const store = createStore({ redisUrl: redis.url, timeoutMs: 2000 })
if (store instanceof RedisStore) await store.ready(2000)
t.teardown(async () => { await store.close(); await redis.stop() })

const now = Math.floor(Date.now() / 1000)
for (const [id, scopes] of [['accountant', ['billing:read', 'reports:read']], ['reporter', ['reports:read', 'reports:daily']], ['shop', ['orders:read', 'orders:write']]] as const) {
  await store.putClient({ id, secretHash: null, grants: ['password'], scopes: [...scopes], disabled: false, createdAt: now })
}
for (const [name, scopes] of [['alice', ['orders:read', 'billing:read', 'reports:read']], ['bob', ['reports:read', 'reports:daily']]] as const) {
  await store.putUser({ name, passwordHash: 'unused', scopes: [...scopes], disabled: false, createdAt: now })
}
const withRedis = { REDIS_URL: redis.url }
const deadRedis = { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_TIMEOUT: '1' }

// each run is a process start: start them all at once, assert below
const runs = {
  same: runCli(['routes', 'diff', OLD, `${F}access-same.yaml`]),
  narrow: runCli(['routes', 'diff', OLD, `${F}access-narrow.yaml`]),
  widen: runCli(['routes', 'diff', OLD, `${F}access-widen.yaml`, '--json'], { env: withRedis }),
  invalid: runCli(['routes', 'diff', OLD, `${F}invalid.yaml`]),
  storeDown: runCli(['routes', 'diff', OLD, `${F}access-narrow.yaml`], { env: deadRedis }),
  lintErrors: runCli(['routes', 'check', `${F}access-narrow.yaml`, '--registry', '--json'], { env: withRedis }),
  lintWarnings: runCli(['routes', 'check', `${F}access-widen.yaml`, '--registry'], { env: withRedis }),
  lintNoRedis: runCli(['routes', 'check', `${F}access-widen.yaml`, '--registry'])
}

t.test('routes diff: exit 0 when access is unchanged (edits that move nobody are still listed)', async (t) => {
  const r = await runs.same
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /access unchanged \(0 widen, 0 narrow\); scopes only \(REDIS_URL not set/)
  t.match(r.stdout, /same access +GET \/orders\/\* +changed forward_token/)
})

t.test('routes diff: exit 1 when access only narrows; without REDIS_URL the diff says it is in scopes only', async (t) => {
  const r = await runs.narrow
  t.equal(r.code, 1, r.stderr)
  t.equal(r.stderr, '')
  t.match(r.stdout, /access only narrows \(0 widen, 4 narrow\); scopes only/)
  t.match(r.stdout, /NARROWS +GET \/catalog\/\* +changed auth[^\n]*\n +lose: anonymous callers/)
  t.notMatch(r.stdout, /clients losing/)
})

t.test('routes diff --json: exit 3 when any access widens; clients and users from the store', async (t) => {
  const r = await runs.widen
  t.equal(r.code, 3, r.stderr)
  const d = json(r) as { access: string, registry: boolean, entries: Array<{ method: string, path: string, access: string, clients: object, users: object }> }
  t.equal(d.access, 'widens')
  t.equal(d.registry, true)
  t.same(d.entries.map((e) => ({ entry: `${e.method} ${e.path}`, access: e.access, clients: e.clients, users: e.users })), [
    { entry: 'GET /billing/invoices/*', access: 'widens', clients: { gain: ['accountant'], lose: [] }, users: { gain: ['alice'], lose: [] } },
    { entry: 'PUT /orders/*', access: 'widens', clients: { gain: ['shop'], lose: [] }, users: { gain: [], lose: [] } },
    { entry: 'GET /reports/daily', access: 'widens_and_narrows', clients: { gain: ['reporter'], lose: ['accountant'] }, users: { gain: ['bob'], lose: ['alice'] } },
    { entry: 'GET /status', access: 'widens', clients: { gain: ['accountant', 'reporter', 'shop'], lose: [] }, users: { gain: ['alice', 'bob'], lose: [] } }
  ])
})

t.test('routes diff: exit 2 when no diff can be made, never a verdict code', async (t) => {
  const invalid = await runs.invalid
  t.equal(invalid.code, 2, 'a map with errors')
  t.equal(invalid.stdout, '')
  t.match(invalid.stderr, /^test\/fixtures\/routes\/invalid\.yaml:3:18 upstreams\.orders\.url: /, 'the loader\'s FILE:LINE:COLUMN lines on stderr')
  const down = await runs.storeDown
  t.equal(down.code, 2, 'REDIS_URL set but nothing answers: not a scopes-only diff, and not exit 1')
  t.match(down.stderr, /^portcullis: store unavailable: no answer from Redis at 127\.0\.0\.1:\d+ within 1 s\n$/)
})

t.test('routes check --registry --json: errors (unreachable routes) and warnings (dead grants) apart, exit 1 on errors', async (t) => {
  const r = await runs.lintErrors
  t.equal(r.code, 1, r.stderr)
  const out = json(r) as { ok: boolean, registry: object, lint: { errors: Array<{ code: string, route: string }>, warnings: Array<{ code: string, scopes: string[] }> } }
  t.equal(out.ok, false)
  t.same(out.registry, { clients: 3, users: 2 })
  t.same(out.lint.errors.map((e) => [e.code, e.route]), [['unreachable_route', 'GET /billing/invoices/:id']])
  t.same(out.lint.warnings.map((w) => [w.code, w.scopes]), [['dead_grant', ['reports:daily']], ['dead_grant', ['reports:read']]])
})

t.test('routes check --registry: warnings only exit 0', async (t) => {
  const r = await runs.lintWarnings
  t.equal(r.code, 0, r.stderr)
  t.same(r.stdout.split('\n'), [
    `${F}access-widen.yaml: OK, 6 routes, 3 upstreams`,
    `${F}access-widen.yaml: warning: route GET /status is auth: none on upstream billing (http://127.0.0.1:9002), which also serves protected routes: GET /billing/invoices/*; GET /reports/daily`,
    `${F}access-widen.yaml: registry of 3 clients and 2 users: 0 errors, 1 warnings`,
    ''
  ])
})

t.test('routes check --registry without REDIS_URL: a usage error, exit 2', async (t) => {
  t.same(await runs.lintNoRedis, { code: 2, stdout: '', stderr: 'portcullis: --registry reads clients and users from the store: set REDIS_URL\n' })
})
