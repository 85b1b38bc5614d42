// Start-up cost of the shipped binary (issue 9 §1), as ratios to `node -e 0` on the same machine:
// the CLI's `--help` within 5×, and `serve` ready (/readyz 200, with Redis up) in under 1 s.
// Runs are interleaved (node -e 0, --help, serve, node -e 0, …) so machine load hits all alike.
// Part of `npm run bench` (extra `startup`); alone: `npx tsx bench/startup.ts [--runs=N]`.
import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startRedis } from '../test/helpers/redis-server.js'
import { median } from './lib/stats.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const BIN = join(ROOT, 'bin', 'portcullis.js')
export const HELP_MAX_RATIO = 5
export const SERVE_READY_MAX_MS = 1000

function timed (args: string[]): number {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, args, { stdio: 'ignore', env: { PATH: process.env.PATH ?? '' } })
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}`)
  return Number(process.hrtime.bigint() - t0) / 1e6
}

/** Milliseconds from spawn to the first /readyz 200 of `portcullis serve`; the process is then stopped. */
async function serveReady (redisUrl: string, routesFile: string): Promise<number> {
  const port = await freePort()
  const t0 = process.hrtime.bigint()
  const child = spawn(process.execPath, [BIN, 'serve'], {
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '', PORT: String(port), ADMIN_PORT: '0', REDIS_URL: redisUrl, ROUTES_FILE: routesFile, LOG_LEVEL: 'warn' }
  })
  try {
    const deadline = Date.now() + 30_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}`)
      if (Date.now() > deadline) throw new Error('serve was not ready within 30 s')
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false)
      if (ok) return Number(process.hrtime.bigint() - t0) / 1e6
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  } finally {
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
  }
}

export interface StartupResult { lines: string[], summary: string[] }

export async function startupBench (opts: { redisUrl: string, runs: number }): Promise<StartupResult> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-startup-'))
  const routesFile = join(dir, 'routes.yaml')
  writeFileSync(routesFile, 'version: 1\nupstreams:\n  u: { url: "http://127.0.0.1:9" }\nroutes:\n  - { path: /x, upstream: u }\n')
  const bare: number[] = []; const help: number[] = []; const ready: number[] = []
  try {
    timed(['-e', '0']); timed([BIN, '--help']) // warm the file cache
    for (let i = 0; i < opts.runs; i++) {
      bare.push(timed(['-e', '0']))
      help.push(timed([BIN, '--help']))
      ready.push(await serveReady(opts.redisUrl, routesFile))
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const ratio = median(help) / median(bare)
  const readyMs = median(ready)
  const verdict = (ok: boolean): string => ok ? 'PASS' : 'FAIL'
  return {
    lines: [
      `| what (median of ${opts.runs}, interleaved) | ms | ratio to \`node -e 0\` |`,
      '|---|---|---|',
      `| \`node -e 0\` | ${median(bare).toFixed(0)} | 1.00 |`,
      `| \`portcullis --help\` | ${median(help).toFixed(0)} | ${ratio.toFixed(2)} |`,
      `| \`portcullis serve\` until /readyz 200 (Redis up) | ${readyMs.toFixed(0)} | ${(readyMs / median(bare)).toFixed(2)} |`
    ],
    summary: [
      `${verdict(ratio <= HELP_MAX_RATIO)} CLI --help ${ratio.toFixed(2)}× node -e 0 (target ≤ ${HELP_MAX_RATIO}×)`,
      `${verdict(readyMs < SERVE_READY_MAX_MS)} serve ready in ${readyMs.toFixed(0)} ms with Redis up (target < ${SERVE_READY_MAX_MS} ms)`
    ]
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const runsArg = process.argv.find((a) => a.startsWith('--runs='))
  const runs = runsArg === undefined ? 10 : Number(runsArg.slice('--runs='.length))
  const redis = await startRedis()
  try {
    const r = await startupBench({ redisUrl: redis.url, runs })
    for (const l of [...r.lines, '', ...r.summary]) process.stdout.write(`${l}\n`)
  } finally {
    await redis.stop()
  }
}
