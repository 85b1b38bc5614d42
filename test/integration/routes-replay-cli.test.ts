// `portcullis routes replay NEW --log FILE` as a real process (issue 13 item 8): what only a spawn
// shows, the exit codes (0 nothing flips, 1 only narrowing, 3 any widening, 2 usage) with stdout
// and stderr. The decisions themselves are tested in-process in decision-log.test.ts.
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { nodeChild } from '../helpers/node-child.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'portcullis-replay-'))

interface Run { code: number | null, stdout: string, stderr: string }

function portcullis (args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(...nodeChild(['bin/portcullis.js', ...args]), { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 },
      (err, stdout, stderr) => { resolve({ code: err === null ? 0 : (err.code as number | null), stdout, stderr }) })
  })
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
const INVALID = write('invalid.yaml', 'version: 1\nupstreams: {}\nroutes:\n  - path: /x\n    upstream: nowhere\n')

// each run is a process start: start them all at once, assert below
const runs = {
  same: portcullis(['routes', 'replay', SAME, '--log', LOG]),
  narrowed: portcullis(['routes', 'replay', NARROWED, '--log', LOG]),
  widened: portcullis(['routes', 'replay', WIDENED, '--log', LOG, '--json']),
  noLog: portcullis(['routes', 'replay', SAME]),
  unreadable: portcullis(['routes', 'replay', SAME, '--log', dir]),
  invalid: portcullis(['routes', 'replay', INVALID, '--log', LOG])
}

t.test('nothing flips: exit 0, the summary says so', async (t) => {
  const r = await runs.same
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '')
  t.equal(r.stdout, `5 decisions from ${LOG} replayed against ${SAME}: 0 would be allowed (were refused), 0 would be refused (were allowed), 4 unchanged\n` +
    'not re-decidable, kept as recorded: 1 (rate_limited 1)\n' +
    `malformed lines skipped: 1 (${LOG}:6)\n`)
})

t.test('access only narrows: exit 1, flips grouped by route and client with counts', async (t) => {
  const r = await runs.narrowed
  t.equal(r.code, 1, r.stderr)
  t.match(r.stdout, '0 would be allowed (were refused), 3 would be refused (were allowed), 1 unchanged\n' +
    'narrowed (allowed → refused):\n' +
    '       2  GET /orders/*  client mobile  allowed → scope_missing\n' +
    '       1  GET /orders/*  client billing  allowed → scope_missing\n')
})

t.test('any access widens: exit 3 (--json)', async (t) => {
  const r = await runs.widened
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
  const noLog = await runs.noLog
  t.equal(noLog.code, 2)
  t.equal(noLog.stderr, "portcullis: required option '--log <file>' not specified\n")
  const unreadable = await runs.unreadable
  t.equal(unreadable.code, 2)
  t.match(unreadable.stderr, new RegExp(`^portcullis: cannot read the decision log ${dir}: EISDIR[^\\n]*\\n$`))
  const invalid = await runs.invalid
  t.equal(invalid.code, 2)
  t.equal(invalid.stderr, `${INVALID}:5:15 routes[0].upstream: unknown upstream "nowhere" (none defined)\n`)
  for (const r of [noLog, unreadable, invalid]) t.equal(r.stdout, '', 'nothing on stdout')
})
