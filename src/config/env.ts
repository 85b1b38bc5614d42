// Configuration from the environment, validated with TypeBox at start, then frozen.
// A bad value stops the process with one clear line (see cli/serve.ts). Durations are whole seconds.
// Every variable here has a row in README "Configuration"; test/unit/env.test.ts keeps them in sync.
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { oneOfMessage } from './schema-values.js'

/** host:port[,host:port…]; IPv6 hosts in brackets. */
// one bcrypt worker per core this process may run on (its CPU affinity counts: taskset -c 0 gives 1)
const DEFAULT_BCRYPT_THREADS = Math.min(16, availableParallelism())

const HOST_PORTS = '^(\\[[0-9a-fA-F:.]+\\]|[^:,\\[\\]\\s]+):[0-9]{1,5}(,(\\[[0-9a-fA-F:.]+\\]|[^:,\\[\\]\\s]+):[0-9]{1,5})*$'

const Seconds = (def: number, min = 0, description = '') =>
  Type.Integer({ minimum: min, default: def, description })

/** OTLP over HTTP: protobuf (the OpenTelemetry default) or JSON; gRPC is not offered. */
const OtlpProtocol = Type.Union([Type.Literal('http/protobuf'), Type.Literal('http/json')], { description: 'OTLP encoding' })

export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'TCP port to listen on' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address to bind' }),
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development', description: '`production` makes a Redis setting (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES) mandatory'
  }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'Redis URL; unset: in-memory store (dev only)' })),
  REDIS_TIMEOUT: Seconds(1, 1, 'Redis connect and command timeout (s); past it the store is unavailable'),
  // Redis high availability (README "High availability: Redis Sentinel and Cluster"): one mode only
  REDIS_SENTINELS: Type.Optional(Type.String({ pattern: HOST_PORTS, description: 'Sentinel mode: sentinels as host:port,host:port,…' })),
  REDIS_SENTINEL_NAME: Type.String({ minLength: 1, default: 'mymaster', description: 'Sentinel mode: the monitored master\'s name' }),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'Sentinel mode: password of the sentinels themselves (never logged)' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: HOST_PORTS, description: 'Cluster mode: seed nodes as host:port,host:port,…' })),
  REDIS_USERNAME: Type.Optional(Type.String({ minLength: 1, description: 'Redis ACL user, all modes' })),
  REDIS_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'Redis ACL password, all modes (never logged)' })),
  REDIS_TLS: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '0', description: '`1`: TLS to every Redis node and sentinel' }),
  REDIS_CA_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CA that signed the Redis certificates (implies TLS)' })),
  REDIS_MIN_REPLICAS: Type.Optional(Type.Integer({ minimum: 0, maximum: 16, description: 'Replicas that must copy a revocation, refresh or disable before it is answered (WAIT); default 1 with Sentinel or Cluster, 0 standalone' })),
  ROUTES_FILE: Type.String({ minLength: 1, default: './routes.yaml', description: 'Route map path' }),
  LOG_LEVEL: Type.Union([
    Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'),
    Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')
  ], { default: 'info', description: 'pino log level' }),
  SHUTDOWN_TIMEOUT: Seconds(10, 1, 'Seconds in-flight requests get to finish after SIGTERM'),
  TRUST_PROXY: Type.String({ default: '', description: 'Comma-separated CIDRs of proxies whose X-Forwarded-For is trusted; empty: none' }),

  // token service
  ISSUER: Type.Optional(Type.String({ minLength: 1, description: '`iss` of issued tokens; default http://HOST:PORT' })),
  AUDIENCE: Type.String({ minLength: 1, default: 'portcullis', description: '`aud` of issued tokens, required at the edge' }),
  ACCESS_TOKEN_TTL: Seconds(900, 1, 'Access-token lifetime (s)'),
  REFRESH_TOKEN_TTL: Seconds(2_592_000, 1, 'Refresh-token lifetime (s), 30 days'),
  CLOCK_SKEW: Seconds(30, 0, 'Leeway for exp/nbf/iat checks (s)'),
  SIGNING_ALG: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('RS256')], {
    default: 'ES256', description: 'Algorithm of newly created signing keys'
  }),
  BCRYPT_COST: Type.Integer({ minimum: 4, maximum: 15, default: 10, description: 'bcrypt cost for passwords and client secrets' }),
  LOGIN_MAX_FAILURES: Type.Integer({ minimum: 1, default: 10, description: 'Failed password attempts per username per LOGIN_FAILURE_WINDOW' }),
  LOGIN_FAILURE_WINDOW: Seconds(900, 1, 'Window for LOGIN_MAX_FAILURES (s)'),
  TOKEN_RATE_LIMIT: Type.Integer({ minimum: 1, default: 60, description: 'Token-endpoint requests per client IP per minute' }),
  REFRESH_GRACE: Seconds(10, 0, 'A refresh token presented again this long after its rotation, by the same DPoP key, gets the same successor (s); 0: never'),

  // DPoP (RFC 9449; README "Mobile clients")
  DPOP_IAT_WINDOW: Seconds(60, 1, 'A DPoP proof is accepted while its iat is within this many seconds of now; its jti is remembered that long'),
  DPOP_NONCE: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '0', description: '`1`: every DPoP proof must carry a server nonce (DPoP-Nonce, use_dpop_nonce)' }),

  // hosted login page (README "Mobile clients")
  SESSION_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Signs the login-session and CSRF cookies; at least 32 bytes; required in production' })),
  LOGIN_SESSION_TTL: Seconds(28_800, 60, 'Lifetime of a hosted-login session (SSO) (s)'),

  // input limits (README "Limits"): every one bounds what a single client can make the gateway hold
  MAX_HEADER_SIZE: Type.Integer({ minimum: 1024, default: 16_384, description: 'Largest request head (request line and headers) in bytes; past it: 431' }),
  OAUTH_BODY_LIMIT: Type.Integer({ minimum: 256, default: 8192, description: 'Body limit of /oauth/* requests in bytes; past it: 413' }),
  MAX_BODY_SIZE: Type.Integer({ minimum: 0, default: 10_485_760, description: 'Body limit of proxied routes in bytes unless a route sets body_limit; past it: 413' }),
  MAX_TOKEN_LENGTH: Type.Integer({ minimum: 512, maximum: 8192, default: 4096, description: 'Longest bearer token in bytes; a longer one is invalid_token without being parsed' }),
  REQUEST_TIMEOUT: Seconds(30, 1, 'Time a client gets to send a whole request, headers and body (s); past it: 408, connection closed'),
  HEADERS_TIMEOUT: Seconds(10, 1, 'Time a client gets to send the request headers (s), at most REQUEST_TIMEOUT; past it: 408, connection closed'),
  MAX_CONNECTIONS: Type.Integer({ minimum: 1, default: 10_000, description: 'Open client connections per instance; more are closed at once' }),

  // performance (README "At the edge": caches and revocation modes)
  TOKEN_CACHE_SIZE: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 10_000, description: 'Verified access tokens remembered per instance (about 1 KB each); 0 disables the cache' }),
  REVOCATION_MODE: Type.Union([Type.Literal('strict'), Type.Literal('replicated')], {
    default: 'replicated', description: '`replicated`: a local view fed by Redis pub/sub, strict while the feed is down or not proved current within REVOCATION_MAX_LAG; `strict`: one store read per request'
  }),
  REVOCATION_MAX_LAG: Type.Integer({ minimum: 1, maximum: 60, default: 1, description: 'Replicated mode: the local view is trusted only while the feed proved it current this recently (heartbeat every quarter of it); past it every check reads the store. The longest a revocation can go unseen (seconds)' }),
  REVOCATION_VIEW_MAX: Type.Integer({ minimum: 1000, default: 200_000, description: 'Replicated mode: most revocation entries held locally (about 100 bytes each); beyond it the instance checks per request (strict)' }),
  BCRYPT_THREADS: Type.Integer({ minimum: 1, maximum: 16, default: DEFAULT_BCRYPT_THREADS, description: 'Most worker threads hashing and checking passwords and client secrets off the event loop (default: one per core this process may use, at most 16; started on demand)' }),
  BCRYPT_NICE: Type.Integer({ minimum: 0, maximum: 19, default: 10, description: 'OS nice value of the bcrypt worker threads (0 = the event loop\'s own priority, 19 = lowest): on a busy core the event loop that proxies requests runs first and logins wait (Linux: per thread)' }),
  BCRYPT_SCHED_IDLE: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '0', description: '`1`: the bcrypt worker threads run under Linux\'s SCHED_IDLE policy (`chrt --idle`): a waking event loop preempts hashing at once, and logins get only CPU time nothing else wants; where it is refused, BCRYPT_NICE applies' }),

  // tracing (README "Tracing"): the standard OpenTelemetry variables; off unless an endpoint is set
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://', description: 'OTLP/HTTP collector base URL (traces go to /v1/traces); unset: tracing off' })),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://', description: 'OTLP/HTTP traces URL, used as is; wins over OTEL_EXPORTER_OTLP_ENDPOINT' })),
  OTEL_EXPORTER_OTLP_PROTOCOL: Type.Optional(OtlpProtocol),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: Type.Optional(OtlpProtocol),
  OTEL_SERVICE_NAME: Type.Optional(Type.String({ minLength: 1, description: '`service.name` of the spans; default portcullis' })),
  OTEL_TRACES_SAMPLER: Type.Union([
    Type.Literal('parentbased_always_on'), Type.Literal('parentbased_always_off'), Type.Literal('parentbased_traceidratio'),
    Type.Literal('always_on'), Type.Literal('always_off'), Type.Literal('traceidratio')
  ], { default: 'parentbased_always_on', description: 'Which requests are recorded' }),
  OTEL_TRACES_SAMPLER_ARG: Type.Optional(Type.String({ pattern: '^(0(\\.[0-9]+)?|1(\\.0+)?)$', description: 'Ratio (0 to 1) of the traceidratio samplers; default 1' })),
  OTEL_SDK_DISABLED: Type.Union([Type.Literal('false'), Type.Literal('true')], { default: 'false', description: '`true` turns tracing off whatever else is set' }),
  // admin listener (README "Admin listener and metrics"): a second port, never the proxy port
  ADMIN_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9090, description: 'Port of the admin listener (/metrics, /admin/*); 0 turns it and metrics collection off' }),
  ADMIN_HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address the admin listener binds' }),
  ADMIN_AUTH: Type.Optional(Type.Union([Type.Literal('required'), Type.Literal('none')], {
    description: '`required`: a gateway token with scope portcullis:admin; default `required` unless ADMIN_HOST is a loopback address'
  })),
  ADMIN_METRICS_PUBLIC: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '0', description: '`1`: /metrics needs no token even when ADMIN_AUTH=required' }),
  // decision log (README "Operations": decision log and replay)
  DECISION_LOG: Type.Optional(Type.String({ minLength: 1, description: 'File receiving one JSON line per edge decision (allowed or refused); unset: off' })),
  DECISION_LOG_MAX_BYTES: Type.Integer({ minimum: 1024, default: 104_857_600, description: 'Size at which the decision log is renamed to FILE.1 and a new one started (bytes)' })
}, { additionalProperties: true })

export type Env = Static<typeof EnvSchema>

/** Whether the configuration names a Redis store (any of the three modes); otherwise the memory store. */
export function hasRedis (c: Pick<Env, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_CLUSTER_NODES'>): boolean {
  return c.REDIS_URL !== undefined || c.REDIS_SENTINELS !== undefined || c.REDIS_CLUSTER_NODES !== undefined
}

export interface Config extends Env {
  /** Resolved issuer. */
  issuer: string
  /** SESSION_SECRET, or (outside production) one generated for this process. */
  sessionSecret: string
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/** Validates the environment; throws ConfigError with one line naming every bad variable. */
export function loadConfig (env: NodeJS.ProcessEnv): Readonly<Config> {
  // only our variables; an empty string means unset; integers must be written as whole numbers
  const input: Record<string, unknown> = {}
  const problems: string[] = []
  for (const [k, schema] of Object.entries(EnvSchema.properties)) {
    const v = env[k]
    if (v === undefined || v === '') continue
    const oneOf = oneOfMessage(schema)
    if (oneOf !== null && !Value.Check(schema, v)) {
      problems.push(`${k}=${JSON.stringify(v)} ${oneOf}`) // every value named, not "must be equal to constant"
    } else if ((schema as { type?: string }).type === 'integer') {
      if (/^-?[0-9]+$/.test(v)) input[k] = Number(v)
      else problems.push(`${k}=${JSON.stringify(v)} must be a whole number`)
    } else {
      input[k] = v
    }
  }
  const withDefaults = Value.Default(EnvSchema, input) as Record<string, unknown>
  for (const e of Value.Errors(EnvSchema, withDefaults)) {
    const name = e.instancePath.slice(1)
    if (name === '' || problems.some((p) => p.startsWith(`${name}=`))) continue
    problems.push(`${name}=${JSON.stringify(env[name] ?? '')} ${e.message}`)
  }
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration: ${[...new Set(problems)].join('; ')}`)
  }
  const parsed = withDefaults as Env
  const redisModes = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((k) => parsed[k] !== undefined)
  if (redisModes.length > 1) {
    throw new ConfigError(`invalid configuration: set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES (found ${redisModes.join(', ')})`)
  }
  if (parsed.NODE_ENV === 'production' && redisModes.length === 0) {
    throw new ConfigError('invalid configuration: REDIS_URL is required when NODE_ENV=production (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES)')
  }
  if (parsed.SESSION_SECRET === undefined && parsed.NODE_ENV === 'production') {
    // every instance must sign and check login cookies with the same key
    throw new ConfigError('invalid configuration: SESSION_SECRET (at least 32 bytes) is required when NODE_ENV=production')
  }
  if (parsed.SESSION_SECRET !== undefined && Buffer.byteLength(parsed.SESSION_SECRET) < 32) {
    throw new ConfigError('invalid configuration: SESSION_SECRET must be at least 32 bytes')
  }
  if (parsed.HEADERS_TIMEOUT > parsed.REQUEST_TIMEOUT) {
    // Node refuses headersTimeout > requestTimeout; the whole request includes its headers anyway
    throw new ConfigError(`invalid configuration: HEADERS_TIMEOUT=${parsed.HEADERS_TIMEOUT} must not exceed REQUEST_TIMEOUT=${parsed.REQUEST_TIMEOUT}`)
  }
  if (parsed.ADMIN_PORT !== 0 && parsed.ADMIN_PORT === parsed.PORT) {
    throw new ConfigError(`invalid configuration: ADMIN_PORT=${parsed.ADMIN_PORT} must differ from PORT (nothing of the admin listener is served on the proxy port)`)
  }
  const issuer = parsed.ISSUER ?? `http://${parsed.HOST.includes(':') ? `[${parsed.HOST}]` : parsed.HOST}:${parsed.PORT}`
  const sessionSecret = parsed.SESSION_SECRET ?? randomBytes(32).toString('base64url')
  return Object.freeze({ ...parsed, issuer, sessionSecret })
}

/** Whether `host` names this machine only: 127.0.0.0/8, ::1 (also IPv4-mapped) or localhost. */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

/** ADMIN_AUTH as set, else `required` whenever ADMIN_HOST is not a loopback address. */
export function adminAuthMode (config: Pick<Env, 'ADMIN_AUTH' | 'ADMIN_HOST'>): 'required' | 'none' {
  return config.ADMIN_AUTH ?? (isLoopbackHost(config.ADMIN_HOST) ? 'none' : 'required')
}

/** TRUST_PROXY as Fastify's `trustProxy` takes it: the list, or false when empty. */
export function parseTrustProxy (value: string): string[] | false {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  return list.length === 0 ? false : list
}
