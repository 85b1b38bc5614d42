// The bench's (c) memory phase on its own (bench/README.md "Reload, memory, logins"): one gateway
// (`node [flags] bin/portcullis.js serve`, NODE_ENV=production, the bench's environment, pinned to
// CPU 0), optionally first taken through the (b) route phase (reload to the 10,000-route map under
// load, load on it, back to 10 routes, 3 times), then loaded with 100,000 distinct valid tokens (wrk,
// 64 connections, until every token was used). Prints VmRSS / VmHWM, the V8 heap spaces (the admin
// /metrics) and the gateway's CPU per request at each step.
//
//   npx tsx bench/memory.ts                 # routes phase, then the memory phase (the full bench's order)
//   MEM_ROUTES=0 npx tsx bench/memory.ts    # memory phase on a fresh gateway
//   MEM_NODE_FLAGS="--max-old-space-size=512" npx tsx bench/memory.ts
//   MEM_AB="--max-old-space-size=512" MEM_NODE_FLAGS="" npx tsx bench/memory.ts   # throughput, CPU/req: A (MEM_NODE_FLAGS) vs B
// Knobs: MEM_ROUTES (1), MEM_ROUTE_COUNT (10000), MEM_TOKENS (100000), MEM_DURATION (5, s per run), MEM_NODE_FLAGS (the
//        gateway's node flags; default: the image's, test/helpers/node-child.ts imageNodeFlags), MEM_AB, MEM_PAIRS (4),
//        MEM_ENV ("K=V …", more gateway environment), MEM_SNAPSHOT=1 (heap snapshot at the end: needs --heapsnapshot-signal=SIGUSR2), MEM_KEEP=1.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, startRedis } from '../test/helpers/redis-server.js'
import { cpuLayout, cpuSecondsOf, memoryOf, pinSelf, run, setLogDir, start, stopAll, type Proc } from './lib/procs.js'
import { loadRun, type LoadResult } from './lib/load.js'
import { imageNodeFlags } from '../test/helpers/node-child.js'
import { probePath, routesYaml } from './lib/routes.js'
import { median } from './lib/stats.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const BIN = join(ROOT, 'bin', 'portcullis.js')
const num = (k: string, d: number): number => (process.env[k] === undefined || process.env[k] === '' ? d : Number(process.env[k]))
const flags = (s: string | undefined): string[] => (s ?? '').split(/\s+/).filter(Boolean)
const ROUTES = num('MEM_ROUTES', 1) !== 0
const TOKENS = num('MEM_TOKENS', 100_000)
const DURATION = num('MEM_DURATION', 5)
const PAIRS = num('MEM_PAIRS', 4)
const BIG = num('MEM_ROUTE_COUNT', 10_000) - 1 // plus /orders/*
const NODE_FLAGS = process.env.MEM_NODE_FLAGS !== undefined ? flags(process.env.MEM_NODE_FLAGS) : imageNodeFlags()
const out = (s: string): void => { process.stdout.write(s + '\n') }
/** MEM_ENV="K=V K=V": more environment of the gateway (e.g. MALLOC_ARENA_MAX=2). */
const EXTRA_ENV = Object.fromEntries(flags(process.env.MEM_ENV).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))

async function http (port: number, path: string, init: RequestInit = {}): Promise<{ status: number, body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(30_000) })
  return { status: r.status, body: await r.text() }
}
async function until (probe: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    try { if (await probe()) return } catch { /* not yet */ }
    await sleep(50)
  }
  throw new Error('timed out')
}

interface Gateway { proc: Proc, port: number, adminPort: number, label: string }

async function main (): Promise<void> {
  const layout = cpuLayout(cpus().length, process.env.BENCH_PIN !== '0')
  pinSelf(layout.tools)
  const work = mkdtempSync(join(tmpdir(), 'portcullis-mem-'))
  setLogDir(work)
  const redis = await startRedis()
  try {
    const upstreamPort = await freePort()
    start('upstream', process.execPath, ['--import', 'tsx', join(ROOT, 'bench/upstream.ts'), String(upstreamPort)], { cpus: layout.tools, cwd: ROOT })
    await until(async () => (await http(upstreamPort, '/')).status > 0)
    const cliEnv = { REDIS_URL: redis.url, LOG_LEVEL: 'warn' }
    await run('cli', process.execPath, [BIN, 'users', 'add', 'bench', '--scopes', 'orders:read orders:write'], { cpus: layout.tools, cwd: ROOT, env: cliEnv, stdin: 'bench-password-0123\n' })
    await run('cli', process.execPath, [BIN, 'clients', 'add', 'bench-app', '--grants', 'password refresh_token', '--scopes', 'orders:read orders:write', '--public'], { cpus: layout.tools, cwd: ROOT, env: cliEnv })
    // the route map laid out as a ConfigMap mount (bench/lib/gateway.ts RouteDir): one SIGHUP, one reload
    const dir = join(work, 'routes')
    mkdirSync(dir)
    let version = 0
    const swap = (text: string): void => {
      const v = `..v${++version}`
      mkdirSync(join(dir, v))
      writeFileSync(join(dir, v, 'routes.yaml'), text)
      symlinkSync(v, join(dir, '..data_tmp'))
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
    }
    swap(routesYaml(upstreamPort, 9, { ordersRateLimit: true }))
    symlinkSync(join('..data', 'routes.yaml'), join(dir, 'routes.yaml'))

    const startGateway = async (label: string, nodeFlags: string[]): Promise<Gateway> => {
      const port = await freePort()
      const adminPort = await freePort()
      const proc = start(`portcullis-${label}`, process.execPath, [...nodeFlags, BIN, 'serve'], {
        cpus: layout.gateway,
        cwd: ROOT,
        env: {
          NODE_ENV: 'production', SESSION_SECRET: randomBytes(32).toString('base64'), REDIS_URL: redis.url, ROUTES_FILE: join(dir, 'routes.yaml'),
          PORT: String(port), HOST: '127.0.0.1', ISSUER: 'http://127.0.0.1:1', AUDIENCE: 'portcullis', SIGNING_ALG: 'ES256',
          LOG_LEVEL: 'warn', TOKEN_RATE_LIMIT: '1000000', ADMIN_PORT: String(adminPort), ADMIN_METRICS_PUBLIC: '1', ...EXTRA_ENV
        }
      })
      await until(async () => (await http(port, '/readyz')).status === 200)
      out(`gateway ${label}: pid ${proc.pid}, node ${nodeFlags.join(' ') || '(no flags)'}`)
      return { proc, port, adminPort, label }
    }
    const gw = await startGateway(process.env.MEM_AB !== undefined ? 'A' : 'main', NODE_FLAGS)
    const r = await http(gw.port, '/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', client_id: 'bench-app', username: 'bench', password: 'bench-password-0123', scope: 'orders:read' }).toString()
    })
    if (r.status !== 200) throw new Error(`password grant failed: ${r.status} ${r.body}`)
    const token = (JSON.parse(r.body) as { access_token: string }).access_token
    const tokensFile = join(work, 'tokens.txt')
    writeFileSync(tokensFile, Array(8).fill(token).join('\n') + '\n')
    const many = await mint(redis.url, token, TOKENS)
    const manyFile = join(work, 'many.txt')
    writeFileSync(manyFile, many.join('\n') + '\n')

    const load = async (g: Gateway, label: string, durationS: number, file = tokensFile): Promise<LoadResult & { cpuUs: number }> => {
      const cpu0 = await cpuSecondsOf(g.proc.pid)
      const res = await loadRun({ port: g.port, path: '/orders/42', tokensFile: file, connections: 64, durationS, cpus: layout.tools, label, countStatus: true }, 'wrk')
      const cpuUs = 1e6 * (await cpuSecondsOf(g.proc.pid) - cpu0) / res.requests
      out(`  ${g.label} ${label}: ${Math.round(res.rps)} req/s, ${cpuUs.toFixed(0)} µs CPU/req, ${res.statusErrors} non-2xx, ${res.socketErrors} socket errors`)
      return { ...res, cpuUs }
    }
    const report = async (g: Gateway, label: string): Promise<number> => {
      const m = await memoryOf(g.proc.pid)
      const metrics = (await http(g.adminPort, '/metrics')).body
      const mib = (re: RegExp): string => (Number(re.exec(metrics)?.[1] ?? NaN) / 2 ** 20).toFixed(0)
      const spaces = ['new', 'old', 'code', 'large_object'].map((s) =>
        `${s} ${mib(new RegExp(`^nodejs_heap_space_size_used_bytes\\{space="${s}"\\} (\\S+)`, 'm'))}/${mib(new RegExp(`^nodejs_heap_space_size_total_bytes\\{space="${s}"\\} (\\S+)`, 'm'))}`).join(', ')
      out(`${label}: RSS ${m.rss.toFixed(0)} MiB (peak ${m.hwm.toFixed(0)}); V8 heap used ${mib(/^nodejs_heap_size_used_bytes (\S+)/m)} of ${mib(/^nodejs_heap_size_total_bytes (\S+)/m)} MiB (${spaces}; used/total MiB)`)
      return m.rss
    }

    if (process.env.MEM_AB !== undefined) {
      const b = await startGateway('B', flags(process.env.MEM_AB))
      for (const g of [gw, b]) await load(g, 'warm-up', 12)
      const res: Record<string, Array<LoadResult & { cpuUs: number }>> = { A: [], B: [] }
      for (let i = 0; i < PAIRS; i++) {
        for (const g of i % 2 === 0 ? [gw, b] : [b, gw]) res[g.label]!.push(await load(g, `pair ${i + 1}, 8 tokens`, DURATION))
      }
      const rps = median(res.A!.map((p, i) => res.B![i]!.rps / p.rps))
      const cpu = median(res.A!.map((p, i) => res.B![i]!.cpuUs / p.cpuUs))
      out(`B ÷ A, median of ${PAIRS} pairs: req/s ×${rps.toFixed(3)}, CPU per request ×${cpu.toFixed(3)}`)
      for (const g of [gw, b]) await load(g, `${TOKENS} distinct tokens`, Math.max(DURATION, 20), manyFile)
      for (const g of [gw, b]) await report(g, `${g.label} after the distinct tokens`)
      return
    }

    const settled = async (): Promise<void> => {
      let last = await cpuSecondsOf(gw.proc.pid)
      for (let i = 0; i < 120; i++) {
        await sleep(250)
        const now = await cpuSecondsOf(gw.proc.pid)
        if (now - last < 0.05) return
        last = now
      }
    }
    const reload = async (extraRoutes: number, ok: (s: number) => boolean): Promise<void> => {
      swap(routesYaml(upstreamPort, extraRoutes, { ordersRateLimit: true }))
      process.kill(gw.proc.pid, 'SIGHUP')
      await until(async () => ok((await http(gw.port, probePath(Math.max(extraRoutes, BIG)))).status))
    }
    await report(gw, 'idle, 10 routes')
    await load(gw, 'warm-up', DURATION)
    await report(gw, 'after a warm-up run')
    if (ROUTES) {
      for (let i = 0; i < 3; i++) {
        const during = load(gw, `reload ${i + 1}`, Math.max(3, Math.ceil(DURATION / 2)))
        await sleep(1000)
        await reload(BIG, (s) => s !== 404)
        await during
        await settled()
        await load(gw, `${BIG + 1} routes ${i + 1}`, DURATION)
        await reload(9, (s) => s === 404)
        await settled()
        await report(gw, `route round ${i + 1}, back on 10 routes`)
      }
    }
    // as bench/phases/memory.ts memory(): a 3 s probe gives the rate, then one run long enough for every token
    const probe = await load(gw, 'probe', 3, manyFile)
    // wrk starts each run at the file's first token: runs go on from where the last one stopped
    let used = 0
    for (let rate = probe.rps; used < TOKENS;) {
      const rest = join(work, `rest-${used}.txt`)
      writeFileSync(rest, many.slice(used).join('\n') + '\n')
      const res = await load(gw, `distinct tokens from #${used}`, Math.min(90, Math.max(3, Math.ceil(1.2 * (TOKENS - used) / rate))), rest)
      used += res.requests
      rate = res.rps
    }
    await sleep(2000)
    out(`distinct-token runs: every one of the ${TOKENS} tokens used`)
    const after = await report(gw, '2 s after the distinct-token run')
    out(`RSS after ${TOKENS} distinct tokens: ${after.toFixed(0)} MiB (target ≤ 200)`)
    if (process.env.MEM_SNAPSHOT === '1') {
      process.kill(gw.proc.pid, 'SIGUSR2')
      await sleep(15_000)
      out(`heap snapshot asked (SIGUSR2), written into ${ROOT}`)
    }
  } finally {
    await stopAll()
    await redis.stop()
    if (process.env.MEM_KEEP === '1') out(`logs in ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }
}

/** Valid tokens of the gateway (its key from Redis), the claims of `token`, a fresh jti each: as bench/lib/tokens.ts mintTokens. */
async function mint (redisUrl: string, token: string, n: number): Promise<string[]> {
  const { createStore } = await import('../src/store/index.js')
  const { KeyRing } = await import('../src/oauth/keys.js')
  const { signAccessToken, newJti } = await import('../src/oauth/jwt.js')
  const store = createStore({ redisUrl, timeoutMs: 5000 })
  try {
    await (store as { ready?: (ms?: number) => Promise<boolean> }).ready?.(5000)
    const ring = await KeyRing.load(store, { alg: 'ES256', logger: { info () {}, warn () {}, error () {} }, refreshIntervalMs: 0 })
    const template = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
    const now = Math.floor(Date.now() / 1000)
    const many: string[] = []
    for (let i = 0; i < n; i++) many.push(signAccessToken(ring, { ...template, iat: now, exp: now + 900, jti: newJti() } as never))
    ring.close()
    return many
  } finally {
    await (store as { close?: () => Promise<void> }).close?.()
  }
}

await main()
