// bench/run.ts's Portcullis instances: their route-map directory, the CLI, their environment, and the
// settings they run with.
import { randomBytes } from 'node:crypto'
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AUDIENCE, BIN, LOG_LEVEL, ROOT } from './config.js'
import { run } from './procs.js'

/**
 * The route map laid out the way Kubernetes mounts a ConfigMap: routes.yaml → ..data/routes.yaml and
 * ..data → ..vN/. A new version swaps the ..data link (one rename). The gateway's watcher sees that
 * swap too, but (b) sends SIGHUP right after it: the SIGHUP reload is the one measured, and the
 * watcher's, finding the text already live, compiles nothing (`routes_unchanged`). Each Portcullis
 * instance that stays up while (b) runs has a RouteDir of its own: with one shared file, the strict and
 * replicated instances (pinned to the same CPU) compiled every swapped 10,000-route map too, beside
 * the measured one (reload 495 ms median in a full run against 231–349 ms alone).
 */
export class RouteDir {
  readonly file: string
  #version = 0
  constructor (readonly dir: string, text: string) {
    mkdirSync(dir)
    this.file = join(dir, 'routes.yaml')
    this.swap(text)
    symlinkSync(join('..data', 'routes.yaml'), this.file)
  }

  swap (text: string): void {
    const version = `..v${++this.#version}`
    mkdirSync(join(this.dir, version))
    writeFileSync(join(this.dir, version, 'routes.yaml'), text)
    symlinkSync(version, join(this.dir, '..data_tmp'))
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'))
  }
}

export async function cli (ctx: { redisUrl: string, cpus: string | null }, args: string[], stdin?: string): Promise<string> {
  const r = await run('cli', process.execPath, [BIN, ...args], {
    cpus: ctx.cpus, cwd: ROOT, ...(stdin !== undefined && { stdin }), env: { REDIS_URL: ctx.redisUrl, LOG_LEVEL: 'warn' }
  })
  if (r.code !== 0) throw new Error(`portcullis ${args.join(' ')} failed (exit ${r.code}): ${r.output}`)
  return r.output
}

export function portcullisEnv (redisUrl: string, port: number, routesFile: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const fromKnob: Record<string, string> = {}
  for (const kv of (process.env.BENCH_PORTCULLIS_ENV ?? '').split(/\s+/).filter(Boolean)) {
    const i = kv.indexOf('=')
    if (i > 0) fromKnob[kv.slice(0, i)] = kv.slice(i + 1)
  }
  return {
    NODE_ENV: 'production',
    SESSION_SECRET: randomBytes(32).toString('base64'), // required in production (the login page's cookies)
    REDIS_URL: redisUrl,
    ROUTES_FILE: routesFile,
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${port}`,
    AUDIENCE,
    SIGNING_ALG: 'ES256',
    LOG_LEVEL: LOG_LEVEL,
    TOKEN_RATE_LIMIT: '1000000',
    ...extra,
    ...fromKnob
  }
}

/** The gateway settings that matter for performance, as the gateway itself parses them. */
export async function describeConfig (env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { loadConfig } = await import('../../src/config/env.js')
    const c = loadConfig(env) as unknown as Record<string, unknown>
    return ['LOG_LEVEL', 'ADMIN_PORT', 'REVOCATION_MODE', 'TOKEN_CACHE_SIZE', 'BCRYPT_COST', 'BCRYPT_THREADS', 'BCRYPT_NICE', 'BCRYPT_SCHED_IDLE', 'REDIS_TIMEOUT']
      .filter((k) => c[k] !== undefined).map((k) => `${k}=${String(c[k])}`).join(' ')
  } catch (err) {
    return `config not parsed: ${(err as Error).message}`
  }
}
