// Which Redis the store talks to (issue 11 items 1-2): exactly one of a standalone server
// (REDIS_URL), a Sentinel-managed master (REDIS_SENTINELS + REDIS_SENTINEL_NAME) or a Cluster
// (REDIS_CLUSTER_NODES, seed nodes), plus ACL credentials and TLS in all three modes. The
// environment schema (src/config/env.ts) has already checked shapes and "exactly one"; this turns
// the variables into connection settings. Credentials live only here and in ioredis options:
// describe() is what logs may show.
import { readFileSync } from 'node:fs'

export interface HostPort { host: string, port: number }

interface Common {
  /** ACL user (REDIS_USERNAME); absent: the `default` user, or the URL's. */
  username?: string | undefined
  /** REDIS_PASSWORD; never logged. */
  password?: string | undefined
  /** TLS on every connection (REDIS_TLS=1, or a rediss:// URL). */
  tls: boolean
  /** PEM of the CA that signed the servers' certificates (REDIS_CA_FILE); absent: the system CAs. */
  ca?: string | undefined
  /** Replicas that must copy a security-relevant write before it is answered (WAIT; REDIS_MIN_REPLICAS). */
  minReplicas: number
}

export type RedisTarget =
  | Common & { mode: 'standalone', url: string }
  | Common & { mode: 'sentinel', sentinels: HostPort[], name: string, sentinelPassword?: string | undefined }
  | Common & { mode: 'cluster', nodes: HostPort[] }

/** The variables read here (a subset of the validated config). */
export interface RedisEnv {
  REDIS_URL?: string | undefined
  REDIS_SENTINELS?: string | undefined
  REDIS_SENTINEL_NAME?: string | undefined
  REDIS_SENTINEL_PASSWORD?: string | undefined
  REDIS_CLUSTER_NODES?: string | undefined
  REDIS_USERNAME?: string | undefined
  REDIS_PASSWORD?: string | undefined
  REDIS_TLS?: string | undefined
  REDIS_CA_FILE?: string | undefined
  REDIS_MIN_REPLICAS?: number | undefined
}

/** `host:port,host:port` (IPv6 as `[::1]:port`). Throws a one-line Error naming the variable. */
export function parseHostPorts (name: string, value: string): HostPort[] {
  const out = value.split(',').map((s) => s.trim()).filter((s) => s !== '').map((item) => {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(item)
    const port = Number(m?.[3])
    if (m === null || port < 1 || port > 65_535) throw new Error(`${name}: "${item}" is not host:port`)
    return { host: m[1] ?? m[2] ?? '', port }
  })
  if (out.length === 0) throw new Error(`${name}: no host:port given`)
  return out
}

const has = (v: string | undefined): v is string => v !== undefined && v !== ''

/** The names of the mode variables that are set (the schema refuses more than one). */
export function modesSet (env: RedisEnv): string[] {
  return (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((k) => has(env[k]))
}

/** The target named by the environment, or null when none is set (the memory store). */
export function redisTargetOf (env: RedisEnv): RedisTarget | null {
  const set = modesSet(env)
  if (set.length === 0) return null
  if (set.length > 1) throw new Error(`set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES (found ${set.join(', ')})`)
  let ca: string | undefined
  if (has(env.REDIS_CA_FILE)) {
    try {
      ca = readFileSync(env.REDIS_CA_FILE, 'utf8')
    } catch (err) {
      throw new Error(`REDIS_CA_FILE: cannot read ${env.REDIS_CA_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  const common: Common = {
    username: has(env.REDIS_USERNAME) ? env.REDIS_USERNAME : undefined,
    password: has(env.REDIS_PASSWORD) ? env.REDIS_PASSWORD : undefined,
    tls: env.REDIS_TLS === '1' || (has(env.REDIS_URL) && env.REDIS_URL.startsWith('rediss://')) || ca !== undefined,
    ca,
    minReplicas: 0
  }
  if (has(env.REDIS_URL)) return { ...common, mode: 'standalone', url: env.REDIS_URL, minReplicas: env.REDIS_MIN_REPLICAS ?? 0 }
  if (has(env.REDIS_SENTINELS)) {
    return {
      ...common,
      mode: 'sentinel',
      sentinels: parseHostPorts('REDIS_SENTINELS', env.REDIS_SENTINELS),
      name: has(env.REDIS_SENTINEL_NAME) ? env.REDIS_SENTINEL_NAME : 'mymaster',
      sentinelPassword: has(env.REDIS_SENTINEL_PASSWORD) ? env.REDIS_SENTINEL_PASSWORD : undefined,
      minReplicas: env.REDIS_MIN_REPLICAS ?? 1
    }
  }
  return { ...common, mode: 'cluster', nodes: parseHostPorts('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES ?? ''), minReplicas: env.REDIS_MIN_REPLICAS ?? 1 }
}

/** For log lines and error messages: mode and addresses, never a credential. */
export function describeTarget (t: RedisTarget): string {
  const tls = t.tls ? ' (TLS)' : ''
  const list = (hs: HostPort[]): string => hs.map((h) => `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`).join(',')
  switch (t.mode) {
    case 'standalone': {
      try {
        const u = new URL(t.url)
        return `Redis at ${u.hostname}:${u.port === '' ? '6379' : u.port}${tls}`
      } catch {
        return `Redis at the configured URL${tls}`
      }
    }
    case 'sentinel': return `Redis Sentinel master "${t.name}" via ${list(t.sentinels)}${tls}`
    case 'cluster': return `Redis Cluster via ${list(t.nodes)}${tls}`
  }
}
