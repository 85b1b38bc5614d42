// `portcullis routes check` as a real process: exit code, stdout and stderr.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { nodeChild } from '../helpers/node-child.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const VALID = 'test/fixtures/routes/valid.yaml'
const INVALID = 'test/fixtures/routes/invalid.yaml'

interface Run { code: number | null, stdout: string, stderr: string }

function portcullis (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { ROUTES_FILE: _, ...inherited } = process.env
  return new Promise((resolve) => {
    execFile(...nodeChild(['bin/portcullis.js', ...args]), { cwd: ROOT, env: { ...inherited, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => { resolve({ code: err === null ? 0 : (err.code as number | null), stdout, stderr }) })
  })
}

const INVALID_LINES = [
  `${INVALID}:3:18 upstreams.orders.url: "ftp://127.0.0.1:9001" must use http: or https:, not ftp:`,
  `${INVALID}:3:49 upstreams.orders.timeout: must be a duration like 250ms, 5s, 1m, 2h or 1d, got "5x"`,
  `${INVALID}:8:11 routes[1]: "/orders/:id" overlaps the route at line 5 ("/orders/*") on GET: a request could match both`,
  `${INVALID}:11:11 routes[2].path: "/oauth/token" would shadow the gateway's own /oauth endpoints (reserved: /oauth, /.well-known, /healthz, /readyz)`,
  `${INVALID}:14:15 routes[3].upstream: unknown upstream "nowhere" (defined: orders)`
]

// each run is a process start: start them all at once, assert below
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
