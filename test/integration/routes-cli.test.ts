// `portcullis routes …` as a real process: check, replay and diff, with what only a spawn shows (exit
// codes, stdout and stderr).
import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeChild } from '../helpers/node-child.js'
import { createStore, RedisStore } from '../../src/store/index.js'
import { freePort, startRedis } from '../helpers/redis-server.js'
import { cliSlot, json, runCli } from '../fixtures/run-cli.js'
import { ROOT_URL } from '../helpers/root.js'

const ROOT = fileURLToPath(ROOT_URL)

// Fixtures of the later sections, set up before any test is defined: tap ends the file's root test
// once it is idle, so no section may still be awaiting its setup when the tests above it finish.
// For the section "`portcullis routes replay NEW --log FILE` as a real process…":
const dir = mkdtempSync(join(tmpdir(), 'portcullis-replay-'))

async function replayCli (args: string[]): Promise<Run> {
  return await cliSlot(async () => await new Promise((resolve) => {
    execFile(...nodeChild(['bin/portcullis.js', ...args]), { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 },
      (err, stdout, stderr) => { resolve({ code: err === null ? 0 : (err.code as number | null), stdout, stderr }) })
  }))
}

function write (name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

const map = (ordersScopes: string, adminAuth = 'required'): string => write(`routes-${ordersScopes}-${adminAuth}.yaml`, `
version: 1
upstreams:
  app: { url: http://127.0.0.1:9 }
routes:
  - path: /orders/*
    methods: [GET]
    upstream: app
    scopes: ${ordersScopes}
  - path: /admin/*
    upstream: app
    auth: ${adminAuth}
`)

const line = (o: Record<string, unknown>): string => JSON.stringify({
  time: '2026-11-30T10:00:00.000Z', route: 'GET /orders/*', method: 'GET', path: '/orders/1', subject: 'alice',
  client: 'mobile', scopes: ['orders:read'], auth: 'required', decision: 'allow', reason: 'allowed', stage: null, ...o
})
const LOG = write('decisions.log', [
  line({}),
  line({ path: '/orders/2' }),
  line({ subject: 'client:billing', client: 'billing' }),
  line({ route: 'GET /admin/*', path: '/admin/x', subject: null, client: null, scopes: null, decision: 'refuse', reason: 'token_missing', stage: 'authenticate' }),
  line({ decision: 'refuse', reason: 'rate_limited', stage: 'rate-limit' }),
  'not a decision'
].join('\n') + '\n')

const SAME = map('[orders:read]')
const NARROWED = map('[orders:read, orders:audit]')
const WIDENED = map('[orders:read]', 'none')
const INVALID_MAP = write('invalid.yaml', 'version: 1\nupstreams: {}\nroutes:\n  - path: /x\n    upstream: nowhere\n')

// each run is a process start: queue them all now (cliSlot runs 3 at a time), assert below
const replayRuns = {
  same: replayCli(['routes', 'replay', SAME, '--log', LOG]),
  narrowed: replayCli(['routes', 'replay', NARROWED, '--log', LOG]),
  widened: replayCli(['routes', 'replay', WIDENED, '--log', LOG, '--json']),
  noLog: replayCli(['routes', 'replay', SAME]),
  unreadable: replayCli(['routes', 'replay', SAME, '--log', dir]),
  invalid: replayCli(['routes', 'replay', INVALID_MAP, '--log', LOG])
}

// For the section "`portcullis routes diff` and `routes check --registry` as re…":
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
// these runs expect answers: a bound well past a loaded machine's scheduling delays (the 1-s default is
// storeDown's subject)
const withRedis = { REDIS_URL: redis.url, REDIS_TIMEOUT: '10' }
const deadRedis = { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_TIMEOUT: '1' }

// each run is a process start: queue them all now (cliSlot runs 3 at a time), assert below
const diffRuns = {
  same: runCli(['routes', 'diff', OLD, `${F}access-same.yaml`]),
  narrow: runCli(['routes', 'diff', OLD, `${F}access-narrow.yaml`]),
  widen: runCli(['routes', 'diff', OLD, `${F}access-widen.yaml`, '--json'], { env: withRedis }),
  invalid: runCli(['routes', 'diff', OLD, `${F}invalid.yaml`]),
  storeDown: runCli(['routes', 'diff', OLD, `${F}access-narrow.yaml`], { env: deadRedis }),
  lintErrors: runCli(['routes', 'check', `${F}access-narrow.yaml`, '--registry', '--json'], { env: withRedis }),
  lintWarnings: runCli(['routes', 'check', `${F}access-widen.yaml`, '--registry'], { env: withRedis }),
  lintNoRedis: runCli(['routes', 'check', `${F}access-widen.yaml`, '--registry'])
}

// `portcullis routes check` as a real process: exit code, stdout and stderr.

const VALID = 'test/fixtures/routes/valid.yaml'
const INVALID = 'test/fixtures/routes/invalid.yaml'

interface Run { code: number | null, stdout: string, stderr: string }

async function portcullis (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { ROUTES_FILE: _, ...inherited } = process.env
  return await cliSlot(async () => await new Promise((resolve) => {
    execFile(...nodeChild(['bin/portcullis.js', ...args]), { cwd: ROOT, env: { ...inherited, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => { resolve({ code: err === null ? 0 : (err.code as number | null), stdout, stderr }) })
  }))
}

const INVALID_LINES = [
  `${INVALID}:3:18 upstreams.orders.url: "ftp://127.0.0.1:9001" must use http: or https:, not ftp:`,
  `${INVALID}:3:49 upstreams.orders.timeout: must be a duration like 250ms, 5s, 1m, 2h or 1d, got "5x"`,
  `${INVALID}:8:11 routes[1]: "/orders/:id" overlaps the route at line 5 ("/orders/*") on GET: a request could match both`,
  `${INVALID}:11:11 routes[2].path: "/oauth/token" would shadow the gateway's own /oauth endpoints (reserved: /oauth, /.well-known, /healthz, /readyz)`,
  `${INVALID}:14:15 routes[3].upstream: unknown upstream "nowhere" (defined: orders)`
]

// each run is a process start: queue them all now (cliSlot runs 3 at a time), assert below
const runs = {
  valid: portcullis(['routes', 'check', VALID]),
  validJson: portcullis(['routes', 'check', VALID, '--json']),
  invalid: portcullis(['routes', 'check', INVALID]),
  invalidJson: portcullis(['routes', 'check', INVALID, '--json']),
  fromEnv: portcullis(['routes', 'check'], { ROUTES_FILE: INVALID }),
  fromCwd: portcullis(['routes', 'check']),
  missing: portcullis(['routes', 'check', 'nope.yaml'])
}

t.test('a valid file: exit 0 and one summary line', async (t) => {
  t.same(await runs.valid, { code: 0, stdout: `${VALID}: OK, 5 routes, 2 upstreams\n`, stderr: '' })
})

t.test('a valid file with --json', async (t) => {
  const run = await runs.validJson
  t.equal(run.code, 0)
  t.same(JSON.parse(run.stdout), { ok: true, file: VALID, routes: 5, upstreams: 2 })
  t.equal(run.stderr, '')
})

t.test('an invalid file: exit 1 and every problem as FILE:LINE:COLUMN message on stderr', async (t) => {
  const run = await runs.invalid
  t.equal(run.code, 1)
  t.equal(run.stdout, '')
  t.same(run.stderr.split('\n'), [...INVALID_LINES, ''])
})

t.test('an invalid file with --json: the errors on stdout, still exit 1', async (t) => {
  const run = await runs.invalidJson
  t.equal(run.code, 1)
  t.equal(run.stderr, '')
  const out = JSON.parse(run.stdout) as { ok: boolean, errors: Array<{ file: string, line: number, column: number, message: string }> }
  t.equal(out.ok, false)
  t.same(out.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.message}`), INVALID_LINES)
})

t.test('the file defaults to $ROUTES_FILE, then ./routes.yaml', async (t) => {
  const fromEnv = await runs.fromEnv
  t.equal(fromEnv.code, 1)
  t.equal(fromEnv.stderr.split('\n')[0], INVALID_LINES[0], 'the file named by ROUTES_FILE was checked')
  t.same(await runs.fromCwd, { code: 0, stdout: 'routes.yaml: OK, 4 routes, 2 upstreams\n', stderr: '' })
})

t.test('a missing file: exit 1, positioned at 1:1', async (t) => {
  t.same(await runs.missing, { code: 1, stdout: '', stderr: 'nope.yaml:1:1 cannot read the route map: no such file\n' })
})

// `portcullis routes replay NEW --log FILE` as a real process (issue 13 item 8): what only a spawn
// shows, the exit codes (0 nothing flips, 1 only narrowing, 3 any widening, 2 usage) with stdout
// and stderr. The decisions themselves are tested in-process in decision-log.test.ts.
// Its fixtures are set up at the top of this file.

t.test('nothing flips: exit 0, the summary says so', async (t) => {
  const r = await replayRuns.same
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '')
  t.equal(r.stdout, `5 decisions from ${LOG} replayed against ${SAME}: 0 would be allowed (were refused), 0 would be refused (were allowed), 4 unchanged\n` +
    'not re-decidable, kept as recorded: 1 (rate_limited 1)\n' +
    `malformed lines skipped: 1 (${LOG}:6)\n`)
})

t.test('access only narrows: exit 1, flips grouped by route and client with counts', async (t) => {
  const r = await replayRuns.narrowed
  t.equal(r.code, 1, r.stderr)
  t.match(r.stdout, '0 would be allowed (were refused), 3 would be refused (were allowed), 1 unchanged\n' +
    'narrowed (allowed → refused):\n' +
    '       2  GET /orders/*  client mobile  allowed → scope_missing\n' +
    '       1  GET /orders/*  client billing  allowed → scope_missing\n')
})

t.test('any access widens: exit 3 (--json)', async (t) => {
  const r = await replayRuns.widened
  t.equal(r.code, 3, r.stderr)
  const out = JSON.parse(r.stdout) as Record<string, unknown>
  t.match(out, {
    map: WIDENED, logs: [LOG], decisions: 5, widened: 1, narrowed: 0, unchanged: 3,
    notRedecidable: { total: 1, byReason: { rate_limited: 1 } },
    malformed: { total: 1, lines: [`${LOG}:6`] }
  })
  t.strictSame(out.flips, [{ direction: 'widened', route: 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /admin/*', client: null, from: 'token_missing', to: 'allowed', count: 1 }])
})

t.test('usage errors: exit 2, one line on stderr (the map\'s problems as FILE:LINE:COLUMN)', async (t) => {
  const noLog = await replayRuns.noLog
  t.equal(noLog.code, 2)
  t.equal(noLog.stderr, "portcullis: required option '--log <file>' not specified\n")
  const unreadable = await replayRuns.unreadable
  t.equal(unreadable.code, 2)
  t.match(unreadable.stderr, new RegExp(`^portcullis: cannot read the decision log ${dir}: EISDIR[^\\n]*\\n$`))
  const invalid = await replayRuns.invalid
  t.equal(invalid.code, 2)
  t.equal(invalid.stderr, `${INVALID_MAP}:5:15 routes[0].upstream: unknown upstream "nowhere" (none defined)\n`)
  for (const r of [noLog, unreadable, invalid]) t.equal(r.stdout, '', 'nothing on stdout')
})

// `portcullis routes diff` and `routes check --registry` as real processes (the exit codes CI reads:
// 0 unchanged, 1 only narrows, 3 widens, 2 no diff made), with clients and users read from a real
// redis-server. The logic itself is tested in-process: test/unit/access-diff.test.ts.
// Its fixtures are set up at the top of this file.

t.test('routes diff: exit 0 when access is unchanged (edits that move nobody are still listed)', async (t) => {
  const r = await diffRuns.same
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /access unchanged \(0 widen, 0 narrow\); scopes only \(REDIS_URL not set/)
  t.match(r.stdout, /same access +GET \/orders\/\* +changed forward_token/)
})

t.test('routes diff: exit 1 when access only narrows; without REDIS_URL the diff says it is in scopes only', async (t) => {
  const r = await diffRuns.narrow
  t.equal(r.code, 1, r.stderr)
  t.equal(r.stderr, '')
  t.match(r.stdout, /access only narrows \(0 widen, 4 narrow\); scopes only/)
  t.match(r.stdout, /NARROWS +GET \/catalog\/\* +changed auth[^\n]*\n +lose: anonymous callers/)
  t.notMatch(r.stdout, /clients losing/)
})

t.test('routes diff --json: exit 3 when any access widens; clients and users from the store', async (t) => {
  const r = await diffRuns.widen
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
  const invalid = await diffRuns.invalid
  t.equal(invalid.code, 2, 'a map with errors')
  t.equal(invalid.stdout, '')
  t.match(invalid.stderr, /^test\/fixtures\/routes\/invalid\.yaml:3:18 upstreams\.orders\.url: /, 'the loader\'s FILE:LINE:COLUMN lines on stderr')
  const down = await diffRuns.storeDown
  t.equal(down.code, 2, 'REDIS_URL set but nothing answers: not a scopes-only diff, and not exit 1')
  t.match(down.stderr, /^portcullis: store unavailable: no answer from Redis at 127\.0\.0\.1:\d+ within 1 s\n$/)
})

t.test('routes check --registry --json: errors (unreachable routes) and warnings (dead grants) apart, exit 1 on errors', async (t) => {
  const r = await diffRuns.lintErrors
  t.equal(r.code, 1, r.stderr)
  const out = json(r) as { ok: boolean, registry: object, lint: { errors: Array<{ code: string, route: string }>, warnings: Array<{ code: string, scopes: string[] }> } }
  t.equal(out.ok, false)
  t.same(out.registry, { clients: 3, users: 2 })
  t.same(out.lint.errors.map((e) => [e.code, e.route]), [['unreachable_route', 'GET /billing/invoices/:id']])
  t.same(out.lint.warnings.map((w) => [w.code, w.scopes]), [['dead_grant', ['reports:daily']], ['dead_grant', ['reports:read']]])
})

t.test('routes check --registry: warnings only exit 0', async (t) => {
  const r = await diffRuns.lintWarnings
  t.equal(r.code, 0, r.stderr)
  t.same(r.stdout.split('\n'), [
    `${F}access-widen.yaml: OK, 6 routes, 3 upstreams`,
    `${F}access-widen.yaml: warning: route GET /status is auth: none on upstream billing (http://127.0.0.1:9002), which also serves protected routes: GET /billing/invoices/*; GET /reports/daily`,
    `${F}access-widen.yaml: registry of 3 clients and 2 users: 0 errors, 1 warnings`,
    ''
  ])
})

t.test('routes check --registry without REDIS_URL: a usage error, exit 2', async (t) => {
  t.same(await diffRuns.lintNoRedis, { code: 2, stdout: '', stderr: 'portcullis: --registry reads clients and users from the store: set REDIS_URL\n' })
})
