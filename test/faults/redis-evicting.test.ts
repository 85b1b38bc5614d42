// SECURITY.md E04: a Redis whose maxmemory-policy may evict keys would drop revocation entries
// silently and bring revoked tokens back. `portcullis serve` refuses to start on one, with one line
// naming the reason (exit 1), also when CONFIG is disabled and only INFO tells the policy; a
// `noeviction` Redis starts as usual.
import t from 'tap'
import { spawn } from 'node:child_process'
import { writeRoutes } from '../helpers/gateway.js'
import { startRedis } from '../helpers/redis-server.js'
import { nodeChild } from '../helpers/node-child.js'
import { BIN, freePort, spawnGateway } from '../helpers/spawn-gateway.js'

const routes = writeRoutes(`
version: 1
upstreams:
  echo: { url: http://127.0.0.1:9, timeout: 1s }
routes:
  - path: /api/*
    upstream: echo
`)

/** Runs `serve` to its exit (it must not start: if it listens, it is stopped and the test fails). */
async function serveUntilExit (redisUrl: string): Promise<{ code: number | null, stderr: string, stdout: string }> {
  const child = spawn(...nodeChild([BIN, 'serve']), {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(await freePort()), ADMIN_PORT: '0', ROUTES_FILE: routes, REDIS_URL: redisUrl, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString()
    if (/portcullis listening/.test(stdout)) child.kill('SIGKILL')
  })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000) // guards a hang only
  const code = await new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c) }) })
  clearTimeout(timer)
  return { code, stderr, stdout }
}

for (const [policy, args, via] of [
  ['allkeys-lru', [], 'CONFIG GET'],
  ['volatile-ttl', ['--rename-command', 'CONFIG', ''], 'INFO memory (CONFIG disabled)']
] as const) {
  t.test(`maxmemory-policy ${policy} is refused at start, read via ${via}`, async (t) => {
    const redis = await startRedis({ args: ['--maxmemory-policy', policy, ...args] })
    t.teardown(() => redis.stop())
    const run = await serveUntilExit(redis.url)
    t.equal(run.code, 1, 'exit 1')
    const lines = run.stderr.trim().split('\n')
    t.equal(lines.length, 1, 'one line')
    t.match(lines[0], new RegExp(`^portcullis: Redis maxmemory-policy is ${policy}: .*set maxmemory-policy noeviction$`))
    t.notMatch(run.stdout, /portcullis listening/, 'never listened')
  })
}

t.test('maxmemory-policy noeviction starts', async (t) => {
  const redis = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] })
  t.teardown(() => redis.stop())
  const gw = await spawnGateway(['serve'], { ROUTES_FILE: routes, REDIS_URL: redis.url, LOG_LEVEL: 'info' })
  t.teardown(() => { if (gw.child.exitCode === null) gw.child.kill('SIGKILL') })
  const ready = await fetch(`${gw.url}/readyz`)
  t.equal(ready.status, 200)
  gw.child.kill('SIGTERM')
  t.match(await gw.exited, { code: 0 })
})
