// Configuration from the environment, validated with TypeBox at start, then frozen.
// A bad value stops the process with one clear line (see cli/serve.ts). Durations are whole seconds.
// Every variable here has a row in README "Configuration"; test/unit/env.test.ts keeps them in sync.
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { oneOfMessage } from './schema-values.js'

const Seconds = (def: number, min = 0, description = '') =>
  Type.Integer({ minimum: min, default: def, description })

export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'TCP port to listen on' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address to bind' }),
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development', description: '`production` makes REDIS_URL mandatory'
  }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'Redis URL; unset: in-memory store (dev only)' })),
  REDIS_TIMEOUT: Seconds(1, 1, 'Redis connect and command timeout (s); past it the store is unavailable'),
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
    default: 'strict', description: '`strict`: one store read per request; `replicated`: a local view fed by Redis pub/sub, strict while the feed is down'
  }),
  REVOCATION_VIEW_MAX: Type.Integer({ minimum: 1000, default: 200_000, description: 'Replicated mode: most revocation entries held locally (about 100 bytes each); beyond it the instance checks per request (strict)' }),
  BCRYPT_THREADS: Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'Worker threads hashing and checking passwords and client secrets off the event loop' })
}, { additionalProperties: true })

export type Env = Static<typeof EnvSchema>

export interface Config extends Env {
  /** Resolved issuer. */
  issuer: string
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
  if (parsed.NODE_ENV === 'production' && parsed.REDIS_URL === undefined) {
    throw new ConfigError('invalid configuration: REDIS_URL is required when NODE_ENV=production')
  }
  if (parsed.HEADERS_TIMEOUT > parsed.REQUEST_TIMEOUT) {
    // Node refuses headersTimeout > requestTimeout; the whole request includes its headers anyway
    throw new ConfigError(`invalid configuration: HEADERS_TIMEOUT=${parsed.HEADERS_TIMEOUT} must not exceed REQUEST_TIMEOUT=${parsed.REQUEST_TIMEOUT}`)
  }
  const issuer = parsed.ISSUER ?? `http://${parsed.HOST.includes(':') ? `[${parsed.HOST}]` : parsed.HOST}:${parsed.PORT}`
  return Object.freeze({ ...parsed, issuer })
}

/** TRUST_PROXY as Fastify's `trustProxy` takes it: the list, or false when empty. */
export function parseTrustProxy (value: string): string[] | false {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  return list.length === 0 ? false : list
}
