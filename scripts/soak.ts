// `npm run soak`: a bounded load run through a real gateway process on a real Redis, loopback only.
// Mixed traffic (protected route with a valid token, public route, bad tokens, token requests) for
// SOAK_MINUTES; every status is checked against what that request must get, and the gateway's RSS is
// sampled from /proc. Stops by itself; exit 1 when any request got an unexpected status (any 5xx
// included) or when RSS grew past the bound between the end of warm-up and the end of the run.
//   SOAK_MINUTES       duration (default 2)
//   SOAK_CONCURRENCY   concurrent client loops (default 16)
//   SOAK_RSS_GROWTH_MB allowed RSS growth after warm-up (default 64)
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import bcrypt from 'bcrypt'
import { RedisStore } from '../src/store/index.js'
import { startEchoUpstream } from '../test/helpers/echo-upstream.js'
import { writeRoutes } from '../test/helpers/gateway.js'
import { freePort, startRedis } from '../test/helpers/redis-server.js'
import { BIN } from '../test/helpers/spawn-gateway.js'

const minutes = Number(process.env.SOAK_MINUTES ?? 2)
const concurrency = Number(process.env.SOAK_CONCURRENCY ?? 16)
const growthMb = Number(process.env.SOAK_RSS_GROWTH_MB ?? 64)
if (!(minutes > 0) || !(concurrency >= 1) || !(growthMb > 0)) { console.error('soak: bad SOAK_* value'); process.exit(2) }
const durationMs = minutes * 60_000
const warmupMs = Math.min(20_000, durationMs / 5)

const redis = await startRedis()
const echo = await startEchoUpstream()
const routes = writeRoutes(`
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 5s }
routes:
  - path: /api/*
    upstream: echo
    scopes: [read]
    rate_limit: { limit: 100000000, window: 1m, by: subject }
  - path: /public/*
    upstream: echo
    auth: none
`)
const seed = new RedisStore({ url: redis.url, timeoutMs: 1000 })
if (!await seed.ready(5000)) throw new Error('redis did not become ready')
await seed.putClient({ id: 'soak', secretHash: bcrypt.hashSync('soak-secret', 4), grants: ['client_credentials'], scopes: ['read'], disabled: false, createdAt: 0 })
await seed.close()

const port = await freePort()
const base = `http://127.0.0.1:${port}`
const gateway = spawn(process.execPath, [BIN, 'serve'], {
  env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), ADMIN_PORT: '0', REDIS_URL: redis.url, ROUTES_FILE: routes, LOG_LEVEL: 'warn', BCRYPT_COST: '4', TOKEN_RATE_LIMIT: '100000000' },
  stdio: ['ignore', 'ignore', 'inherit']
})
const cleanup = async (): Promise<void> => {
  if (gateway.exitCode === null) gateway.kill('SIGKILL')
  await echo.close()
  await redis.stop()
}
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)) })

async function waitReady (): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('the gateway did not become ready')
}
await waitReady()

const basic = 'Basic ' + Buffer.from('soak:soak-secret').toString('base64')
async function issue (): Promise<string> {
  const res = await fetch(`${base}/oauth/token`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=read' })
  if (res.status !== 200) throw new Error(`token request: ${res.status}`)
  return ((await res.json()) as { access_token: string }).access_token
}
let token = await issue()

type Kind = 'protected' | 'public' | 'bad-token' | 'token'
const expected: Record<Kind, number> = { protected: 200, public: 200, 'bad-token': 401, token: 200 }
const counts = new Map<string, number>()
const unexpected: string[] = []
let latencies: number[] = []
let done = 0

function pick (): Kind {
  const r = Math.random()
  return r < 0.6 ? 'protected' : r < 0.85 ? 'public' : r < 0.95 ? 'bad-token' : 'token'
}

async function one (kind: Kind): Promise<void> {
  const started = performance.now()
  let status: number | string
  try {
    const res = kind === 'protected' ? await fetch(`${base}/api/orders/${done}`, { headers: { authorization: `Bearer ${token}` } })
      : kind === 'public' ? await fetch(`${base}/public/items?n=${done}`)
        : kind === 'bad-token' ? await fetch(`${base}/api/x`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } })
          : await fetch(`${base}/oauth/token`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' })
    await res.arrayBuffer()
    status = res.status
  } catch (err) {
    status = (err as Error).name
  }
  latencies.push(performance.now() - started)
  done++
  const key = `${kind} ${status}`
  counts.set(key, (counts.get(key) ?? 0) + 1)
  if (status !== expected[kind] && unexpected.length < 20) unexpected.push(key)
}

function rssMb (): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${gateway.pid!}/status`, 'utf8'))
  return m === null ? NaN : Math.round(Number(m[1]) / 1024)
}

const started = Date.now()
const samples: Array<{ t: number; rss: number }> = []
const reporter = setInterval(() => {
  const t = Date.now() - started
  const sorted = latencies.sort((a, b) => a - b)
  const p = (q: number): number => Math.round(sorted[Math.floor(q * (sorted.length - 1))] ?? 0)
  const rss = rssMb()
  samples.push({ t, rss })
  console.log(`soak ${Math.round(t / 1000)}s: ${Math.round(sorted.length / 5)} req/s, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, RSS ${rss} MB, unexpected ${unexpected.length}`)
  latencies = []
}, 5000)
const tokenTimer = setInterval(() => { void issue().then((t) => { token = t }, () => {}) }, 60_000)

await Promise.all(Array.from({ length: concurrency }, async () => {
  while (Date.now() - started < durationMs) await one(pick())
}))
clearInterval(reporter)
clearInterval(tokenTimer)

const afterWarmup = samples.filter((s) => s.t >= warmupMs)
const first = afterWarmup[0]?.rss ?? NaN
const last = afterWarmup.slice(-3).reduce((a, s) => a + s.rss, 0) / Math.max(1, afterWarmup.slice(-3).length)
const growth = Math.round(last - first)
const alive = gateway.exitCode === null
console.log(`\nsoak: ${done} requests in ${minutes} min, statuses ${JSON.stringify(Object.fromEntries(counts))}`)
console.log(`soak: RSS ${first} MB after warm-up, ${Math.round(last)} MB at the end (growth ${growth} MB, bound ${growthMb} MB); gateway ${alive ? 'alive' : 'EXITED'}`)
await cleanup()
const failures = [
  ...(unexpected.length > 0 ? [`unexpected statuses: ${[...new Set(unexpected)].join(', ')}`] : []),
  ...(!(growth < growthMb) ? [`RSS grew ${growth} MB`] : []),
  ...(!alive ? ['the gateway exited'] : [])
]
if (failures.length > 0) { console.error(`soak FAILED: ${failures.join('; ')}`); process.exit(1) }
console.log('soak OK')
process.exit(0)
