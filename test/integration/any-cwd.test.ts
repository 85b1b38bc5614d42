// Issue 9 §2: the gateway and the CLI work from any working directory. Started outside the project
// folder, the bcrypt worker threads used to fail (`Cannot find package 'tsx'`): the worker's loader
// was resolved from the cwd. Here both run with an empty temporary directory as their cwd.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startRedis } from '../helpers/redis-server.js'
import { spawnGateway } from '../helpers/spawn-gateway.js'
import { runCli } from '../fixtures/run-cli.js'

const dir = await mkdtemp(join(tmpdir(), 'portcullis-cwd-'))
const redis = await startRedis()
t.teardown(async () => { await redis.stop(); await rm(dir, { recursive: true, force: true }) })

const routes = join(dir, 'routes.yaml')
await writeFile(routes, 'version: 1\nupstreams:\n  u: { url: "http://127.0.0.1:9" }\nroutes:\n  - { path: /x, upstream: u }\n')
const env = { REDIS_URL: redis.url, BCRYPT_COST: '4' }

t.test('the CLI adds a user and a client from a foreign cwd', async (t) => {
  const user = await runCli(['users', 'add', 'alice', '--scopes', 'read'], { env, stdin: 'pw-alice\n', cwd: dir })
  t.equal(user.code, 0, user.stderr)
  const client = await runCli(['clients', 'add', 'app', '--public', '--grants', 'password', '--scopes', 'read'], { env, cwd: dir })
  t.equal(client.code, 0, client.stderr)
})

t.test('serve from a foreign cwd issues a password-grant token (bcrypt runs in its worker threads)', async (t) => {
  const gw = await spawnGateway(['serve'], { ...env, ROUTES_FILE: routes, BCRYPT_THREADS: '1', LOG_LEVEL: 'info' }, undefined, { cwd: dir })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const res = await fetch(`${gw.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', client_id: 'app', username: 'alice', password: 'pw-alice', scope: 'read' })
  })
  const body = await res.json() as Record<string, unknown>
  t.equal(res.status, 200, res.status === 200 ? 'status 200' : JSON.stringify(body))
  t.equal(typeof body.access_token, 'string')
  t.notMatch(gw.output(), /Cannot find package/)
})
