// The decision log (DECISION_LOG, issue 13 item 8) through a real in-process gateway and a real
// echo upstream: one exact line per decision, allowed or refused, never a token; rotation at
// DECISION_LOG_MAX_BYTES; a write error logged once and never failing a request; a bad path at
// start refused. Then `routes replay` (in-process) of that log against narrowed, widened and
// unchanged route maps. The CLI's exit codes as a real process: routes-cli.test.ts.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadRouteTable } from '../../src/config/route-map-loader.js'
import { replayExitCode, replayLogs } from '../../src/cli/routes-replay.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway, writeRoutes } from '../helpers/gateway.js'
import { captureLogs, until } from '../helpers/log-capture.js'
import { clientClaims, mint, userClaims } from '../helpers/tokens.js'

const echo = await startEchoUpstream()
t.teardown(() => echo.close())
const dir = mkdtempSync(join(tmpdir(), 'portcullis-decisions-'))

const routesYaml = (orders: { get?: string, post?: string } = {}, extra = ''): string => `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /orders/*
    methods: [GET, HEAD]
    upstream: echo
    scopes: ${orders.get ?? '[orders:read]'}
  - path: /orders/*
    methods: [POST]
    upstream: echo
    scopes: ${orders.post ?? '[orders:write]'}
  - path: /maybe/*
    upstream: echo
    auth: optional
  - path: /open/*
    upstream: echo
    auth: none
  - path: /limited/*
    upstream: echo
    auth: none
    rate_limit: { limit: 1, window: 1m, by: ip }
${extra}`

const ROUTES = routesYaml()
const file = join(dir, 'decisions.log')
const gw = await startTestGateway(t, { routes: ROUTES, env: { DECISION_LOG: file } })
const read = (tok: string): string => mint(gw.keys, userClaims(gw.config, { scope: tok }))
const alice = read('orders:read')
const billing = mint(gw.keys, clientClaims(gw.config, 'billing', { scope: 'orders:read orders:write' }))
const expired = mint(gw.keys, userClaims(gw.config, { scope: 'orders:read', exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 4000 }))
const tokens = [alice, billing, expired]

async function call (path: string, init: { method?: string, bearer?: string } = {}): Promise<number> {
  const res = await fetch(gw.url + path, {
    method: init.method ?? 'GET',
    headers: init.bearer === undefined ? {} : { authorization: `Bearer ${init.bearer}` }
  })
  await res.arrayBuffer()
  return res.status
}

/** The lines of a decision log, parsed, once it holds at least `n`. */
async function lines (path: string, n: number): Promise<Array<Record<string, unknown>>> {
  const all = (): string[] => { try { return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') } catch { return [] } }
  await until(() => all().length >= n, `${n} lines in ${path}`)
  return all().map((l) => JSON.parse(l) as Record<string, unknown>)
}

// one request of each kind, in order; [status, the line it must produce (time checked apart)]
const ORDERS_GET = 'GET,HEAD /orders/*'
const ALICE = { subject: 'alice', client: 'mobile', scopes: ['orders:read'] }
const BILLING = { subject: 'client:billing', client: 'billing', scopes: ['orders:read', 'orders:write'] }
const NOBODY = { subject: null, client: null, scopes: null }
const allow = { decision: 'allow', reason: 'allowed', stage: null }
const CASES: Array<[string, () => Promise<number>, number, Record<string, unknown>]> = [
  ['a valid token with the scope', () => call('/orders/1', { bearer: alice }), 200,
    { route: ORDERS_GET, method: 'GET', path: '/orders/1', ...ALICE, auth: 'required', ...allow }],
  ['the same caller, again', () => call('/orders/2', { bearer: alice }), 200,
    { route: ORDERS_GET, method: 'GET', path: '/orders/2', ...ALICE, auth: 'required', ...allow }],
  ['a client_credentials token', () => call('/orders/3', { bearer: billing }), 200,
    { route: ORDERS_GET, method: 'GET', path: '/orders/3', ...BILLING, auth: 'required', ...allow }],
  ['a token without the scope of the method', () => call('/orders/1', { method: 'POST', bearer: alice }), 403,
    { route: 'POST /orders/*', method: 'POST', path: '/orders/1', ...ALICE, auth: 'required', decision: 'refuse', reason: 'scope_missing', stage: 'authorize' }],
  ['no token', () => call('/orders/4'), 401,
    { route: ORDERS_GET, method: 'GET', path: '/orders/4', ...NOBODY, auth: 'required', decision: 'refuse', reason: 'token_missing', stage: 'authenticate' }],
  ['an expired token', () => call('/orders/5', { bearer: expired }), 401,
    { route: ORDERS_GET, method: 'GET', path: '/orders/5', ...NOBODY, auth: 'required', decision: 'refuse', reason: 'token_expired', stage: 'authenticate' }],
  ['a token in the header and the query (the query is never logged)', () => call(`/orders/6?access_token=${alice}`, { bearer: alice }), 400,
    { route: ORDERS_GET, method: 'GET', path: '/orders/6', ...NOBODY, auth: 'required', decision: 'refuse', reason: 'token_malformed_request', stage: 'authenticate' }],
  ['no route', () => call('/nowhere/x', { bearer: alice }), 404,
    { route: null, method: 'GET', path: '/nowhere/x', ...NOBODY, auth: null, decision: 'refuse', reason: 'route_not_found', stage: 'match' }],
  ['an ambiguous path: no path recorded', () => call('/open/a%2Fb'), 400,
    { route: null, method: 'GET', path: null, ...NOBODY, auth: null, decision: 'refuse', reason: 'bad_path', stage: 'match' }],
  ['auth: none, a token in the query (never read, never logged)', () => call(`/open/x?access_token=${billing}`), 200,
    { route: 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /open/*', method: 'GET', path: '/open/x', ...NOBODY, auth: 'none', ...allow }],
  ['auth: optional, anonymous', () => call('/maybe/x'), 200,
    { route: 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /maybe/*', method: 'GET', path: '/maybe/x', ...NOBODY, auth: 'optional', ...allow }],
  ['auth: optional with a token', () => call('/maybe/y', { bearer: alice }), 200,
    { route: 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /maybe/*', method: 'GET', path: '/maybe/y', ...ALICE, auth: 'optional', ...allow }],
  ['within the rate limit', () => call('/limited/a'), 200,
    { route: 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /limited/*', method: 'GET', path: '/limited/a', ...NOBODY, auth: 'none', ...allow }],
  ['past the rate limit', () => call('/limited/b'), 429,
    { route: 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /limited/*', method: 'GET', path: '/limited/b', ...NOBODY, auth: 'none', decision: 'refuse', reason: 'rate_limited', stage: 'rate-limit' }]
]

t.test('one line per decision, allowed or refused, with exactly these fields', async (t) => {
  for (const [what, send, status] of CASES) t.equal(await send(), status, what)
  const got = await lines(file, CASES.length)
  t.equal(got.length, CASES.length, 'one line per request, nothing else')
  for (const [i, [what, , , want]] of CASES.entries()) {
    const { time, ...rest } = got[i]!
    t.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${what}: ISO time`)
    t.strictSame(rest, want, what)
  }
  const text = readFileSync(file, 'utf8')
  for (const tok of tokens) {
    t.notOk(text.includes(tok), 'no token in the file')
    t.notOk(text.includes(tok.split('.')[2]!), 'not even a token signature')
  }
  t.notMatch(text, /access_token|bearer|authorization|\?/i, 'no query string, no header name or value')
  t.equal(statSync(file).mode & 0o777, 0o640, 'readable by the gateway\'s user and group only')
})

t.test('rotation: the file is renamed to FILE.1 before a line would take it past DECISION_LOG_MAX_BYTES', async (t) => {
  const rfile = join(dir, 'rotating.log')
  const rgw = await startTestGateway(t, { routes: ROUTES, env: { DECISION_LOG: rfile, DECISION_LOG_MAX_BYTES: '1024' } })
  // ~190 bytes a line: 5 fit in 1024, so 12 lines make two rotations
  for (let i = 1; i <= 12; i++) t.equal((await fetch(`${rgw.url}/open/${i}`)).status, 200)
  await until(() => { try { return readFileSync(rfile, 'utf8').includes('"/open/12"') } catch { return false } }, 'the last line')
  const current = await lines(rfile, 1)
  const previous = await lines(`${rfile}.1`, 1)
  const n = (r: Record<string, unknown>): number => Number(String(r.path).split('/')[2])
  t.ok(statSync(rfile).size <= 1024 && statSync(`${rfile}.1`).size <= 1024, 'neither file passes the limit')
  const lineLen = readFileSync(`${rfile}.1`, 'utf8').split('\n')[0]!.length + 1
  t.ok(statSync(`${rfile}.1`).size + lineLen > 1024, 'FILE.1 was full: one more line would have passed the limit')
  t.strictSame([...previous, ...current].map(n), Array.from({ length: previous.length + current.length }, (_, i) => 12 - previous.length - current.length + 1 + i),
    'FILE.1 holds the lines just before FILE: none lost between them, none repeated')
  t.equal(n(current.at(-1)!), 12)
  t.ok(previous.length + current.length < 12, 'one generation is kept: the oldest lines are gone')
})

t.test('a write error is logged once and never fails a request', async (t) => {
  const { logger, lines: logLines } = captureLogs()
  const fgw = await startTestGateway(t, { routes: ROUTES, env: { DECISION_LOG: '/dev/full' }, logger })
  for (let i = 0; i < 5; i++) t.equal((await fetch(`${fgw.url}/open/${i}`)).status, 200, 'served')
  const failed = (): number => logLines.filter((l) => String(l.msg).startsWith('decision log:')).length
  await until(() => failed() > 0, 'the write error')
  for (let i = 0; i < 5; i++) t.equal((await fetch(`${fgw.url}/open/${i}`)).status, 200, 'still served')
  const errs = logLines.filter((l) => String(l.msg).startsWith('decision log:'))
  t.equal(errs.length, 1, 'logged once')
  t.match(errs[0], { level: 50, file: '/dev/full', code: 'ENOSPC' })
})

t.test('a decision log that cannot be opened stops the start with one line', async (t) => {
  await t.rejects(startTestGateway(t, { routes: ROUTES, env: { DECISION_LOG: join(dir, 'no-such-dir', 'd.log') } }),
    { name: 'DecisionLogOpenError', message: new RegExp(`^cannot open DECISION_LOG=${dir}/no-such-dir/d.log: ENOENT[^\\n]*$`) })
})

t.test('routes replay of that log: narrowed, widened, unchanged, grouped by route and client', async (t) => {
  const replay = async (yaml: string) => {
    const r = await replayLogs(await loadRouteTable(writeRoutes(yaml)), [file])
    return { ...r, exit: replayExitCode(r) }
  }
  const kept = { total: 3, byReason: { bad_path: 1, rate_limited: 1, token_not_read: 1 } }

  const same = await replay(ROUTES)
  t.match(same, { decisions: CASES.length, widened: 0, narrowed: 0, flips: [], exit: 0 }, 'the same map: nothing flips, exit 0')
  t.strictSame(same.notRedecidable, { total: 2, byReason: { bad_path: 1, rate_limited: 1 } }, 'what depends on more than the map is kept')

  // GET /orders/* needs one more scope; /maybe/* and /open/* now need a token
  const narrow = await replay(routesYaml({ get: '[orders:read, orders:audit]' })
    .replace('auth: optional', 'auth: required').replace(/(\/open\/\*\n {4}upstream: echo\n) {4}auth: none\n/, '$1'))
  t.equal(narrow.exit, 1, 'only narrowing: exit 1')
  t.strictSame(narrow.flips, [
    { direction: 'narrowed', route: ORDERS_GET, client: 'mobile', from: 'allowed', to: 'scope_missing', count: 2 },
    { direction: 'narrowed', route: ORDERS_GET, client: 'billing', from: 'allowed', to: 'scope_missing', count: 1 },
    { direction: 'narrowed', route: 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /maybe/*', client: null, from: 'allowed', to: 'token_missing', count: 1 }
  ], 'grouped by route and client, with counts; the token holder on /maybe/* stays allowed')
  t.strictSame(narrow.notRedecidable, kept, 'the auth: none request carried no identity: not re-decidable where a token is now read')

  // POST /orders/* accepts orders:read; a public route where there was none
  const widen = await replay(routesYaml({ post: '[orders:read]' }, '  - path: /nowhere/*\n    upstream: echo\n    auth: none\n'))
  t.equal(widen.exit, 3, 'any widening: exit 3')
  t.strictSame(widen.flips, [
    { direction: 'widened', route: 'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /nowhere/*', client: null, from: 'route_not_found', to: 'allowed', count: 1 },
    { direction: 'widened', route: 'POST /orders/*', client: 'mobile', from: 'scope_missing', to: 'allowed', count: 1 }
  ])
  t.equal(widen.narrowed, 0)
})

t.test('malformed lines are counted and named, never fatal', async (t) => {
  const bad = join(dir, 'mixed.log')
  const good = readFileSync(file, 'utf8').split('\n')[0]!
  writeFileSync(bad, `${good}\nnot json\n{"decision":"allow"}\n\n${good}\n`)
  const r = await replayLogs(await loadRouteTable(writeRoutes(ROUTES)), [bad])
  t.equal(r.decisions, 2)
  t.strictSame(r.malformed, { total: 2, lines: [`${bad}:2`, `${bad}:3`] })
})
