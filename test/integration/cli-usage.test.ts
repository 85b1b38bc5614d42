// The real binary as ops run it: usage errors on every command, and any working directory.
import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ROOT_URL } from '../helpers/root.js'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../fixtures/run-cli.js'
import { startRedis } from '../helpers/redis-server.js'
import { imageNodeFlags } from '../helpers/node-child.js'
import { spawnGateway } from '../helpers/spawn-gateway.js'
import { NICE, POLICY, SCHED_IDLE, SCHED_OTHER, countOf, threadStat } from '../helpers/threads.js'

// Fixtures of the later sections, set up before any test is defined: tap ends the file's root test
// once it is idle, so no section may still be awaiting its setup when the tests above it finish.
// For the section "Issue 9 §2: the gateway and the CLI work from any working di…":
const dir = await mkdtemp(join(tmpdir(), 'portcullis-cwd-'))
const redis = await startRedis()
t.teardown(async () => { await redis.stop(); await rm(dir, { recursive: true, force: true }) })

const routes = join(dir, 'routes.yaml')
await writeFile(routes, 'version: 1\nupstreams:\n  u: { url: "http://127.0.0.1:9" }\nroutes:\n  - { path: /x, upstream: u }\n')
const env = { REDIS_URL: redis.url, BCRYPT_COST: '4' }

// Usage errors through the real binary (issue 9): an unknown command, an unknown option or a missing
// argument is one line on stderr and exit 2, as README "CLI" says, on every command, not only on
// the ones that had it; a refused configuration stays exit 1.

t.setTimeout(240_000) // a dozen real processes, one after another, on a loaded machine

const usage: Array<{ what: string, args: string[], stderr: RegExp }> = [
  { what: 'unknown command', args: ['srve'], stderr: /^portcullis: unknown command 'srve'/ },
  { what: 'unknown subcommand', args: ['routes', 'lint'], stderr: /^portcullis: unknown command 'lint'/ },
  { what: 'unknown option on serve', args: ['serve', '--port', '1'], stderr: /^portcullis: unknown option '--port'/ },
  { what: 'unknown option on dev', args: ['dev', '--verbose'], stderr: /^portcullis: unknown option '--verbose'/ },
  { what: 'option without its value', args: ['demo-upstream', '--port'], stderr: /^portcullis: option '--port <port>' argument missing/ },
  { what: 'option with a bad value', args: ['demo-upstream', '--port', 'ninety'], stderr: /^portcullis: --port must be a port number, got "ninety"/ },
  { what: 'missing argument', args: ['users', 'add', '--scopes', 'x'], stderr: /^portcullis: missing required argument 'name'/ },
  { what: 'missing required option', args: ['clients', 'add', 'billing'], stderr: /^portcullis: required option '--grants <grants>' not specified/ }
]

for (const c of usage) {
  t.test(`usage error, exit 2: ${c.what}`, async (t) => {
    const r = await runCli(c.args)
    t.equal(r.code, 2, `exit code (stderr: ${r.stderr.trim()})`)
    t.match(r.stderr, c.stderr)
    t.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line')
    t.equal(r.stdout, '', 'nothing on stdout')
  })
}

t.test('no command at all: the usage on stderr, exit 2', async (t) => {
  const r = await runCli([])
  t.equal(r.code, 2)
  t.match(r.stderr, /^Usage: portcullis/)
  t.equal(r.stdout, '')
})

t.test('--help is not an error: stdout, exit 0', async (t) => {
  const r = await runCli(['--help'])
  t.equal(r.code, 0)
  t.match(r.stdout, /^Usage: portcullis/)
})

t.test('a refused configuration is exit 1, one line: NODE_ENV=prod', async (t) => {
  const r = await runCli(['serve'], { env: { NODE_ENV: 'prod' } })
  t.equal(r.code, 1)
  t.equal(r.stderr, 'portcullis: invalid configuration: NODE_ENV="prod" must be one of development, production, test\n')
})

// Issue 9 §2: the gateway and the CLI work from any working directory. Started outside the project
// folder, the bcrypt worker threads used to fail (`Cannot find package 'tsx'`): the worker's loader
// was resolved from the cwd. Here both run with an empty temporary directory as their cwd.
// Its fixtures are set up at the top of this file.

t.test('the CLI adds a user and a client from a foreign cwd', async (t) => {
  const user = await runCli(['users', 'add', 'alice', '--scopes', 'read'], { env, stdin: 'pw-alice\n', cwd: dir })
  t.equal(user.code, 0, user.stderr)
  const client = await runCli(['clients', 'add', 'app', '--public', '--grants', 'password', '--scopes', 'read'], { env, cwd: dir })
  t.equal(client.code, 0, client.stderr)
})

/** A password-grant login of the user and client the CLI test above added (bcrypt runs in a worker). */
async function aliceLogin (url: string): Promise<Response> {
  return await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', client_id: 'app', username: 'alice', password: 'pw-alice', scope: 'read' })
  })
}

t.test('serve from a foreign cwd, started as the image starts it, issues a password-grant token (bcrypt runs in its worker threads)', async (t) => {
  // the image bounds V8's heap (README "Performance", memory); a V8 flag on the command line once made
  // every bcrypt worker refuse to start (ERR_WORKER_INVALID_EXEC_ARGV: every login a 500)
  t.ok(imageNodeFlags().some((f) => /^--max-old-space-size=\d+$/.test(f)), 'the Dockerfile starts node with a heap bound')
  const gw = await spawnGateway(['serve'], { ...env, ROUTES_FILE: routes, BCRYPT_THREADS: '1', BCRYPT_NICE: '13', LOG_LEVEL: 'info' }, undefined, { cwd: dir })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const res = await aliceLogin(gw.url)
  const body = await res.json() as Record<string, unknown>
  t.equal(res.status, 200, res.status === 200 ? 'status 200' : JSON.stringify(body))
  t.equal(typeof body.access_token, 'string')
  t.notMatch(gw.output(), /Cannot find package/)
  // BCRYPT_NICE reaches the worker: its thread runs at 13, the event loop at 0 (Linux: /proc/PID/task)
  const pid = gw.child.pid as number
  const nices = threadStat(pid, NICE)
  t.equal(nices.get(pid), 0, 'the event loop thread at normal priority')
  t.equal(countOf(nices, 13), 1, 'the one bcrypt worker thread at BCRYPT_NICE')
})

t.test('serve with BCRYPT_SCHED_IDLE=1: the bcrypt worker thread runs under SCHED_IDLE, the event loop does not', async (t) => {
  const gw = await spawnGateway(['serve'], { ...env, ROUTES_FILE: routes, BCRYPT_THREADS: '1', BCRYPT_SCHED_IDLE: '1' }, undefined, { cwd: dir })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const res = await aliceLogin(gw.url)
  t.equal(res.status, 200, 'a login (the worker started)')
  const pid = gw.child.pid as number
  const policies = threadStat(pid, POLICY)
  t.equal(policies.get(pid), SCHED_OTHER, 'the event loop thread under the normal policy')
  t.equal(countOf(policies, SCHED_IDLE), 1, 'the one bcrypt worker thread under SCHED_IDLE')
})

t.test('a finished command exits even when something still holds the event loop (a client library after close)', async (t) => {
  // the fixture keeps a timer alive forever; the CLI must still exit about 1 s after its command ended
  const child = spawn(process.execPath, ['--import', fileURLToPath(new URL('test/fixtures/linger.mjs', ROOT_URL)), fileURLToPath(new URL('bin/portcullis.js', ROOT_URL)), 'users', 'list', '--json'],
    { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  const killer = setTimeout(() => { child.kill('SIGKILL') }, 15_000)
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => { child.once('close', (c, s) => { resolve([c, s]) }) })
  clearTimeout(killer)
  t.equal(signal, null, 'it exited by itself (not killed after 15 s)')
  t.equal(code, 0, 'with the command\'s own exit code')
  t.ok(Array.isArray(JSON.parse(stdout)), 'and its whole output')
})
