// Configuration errors: the environment (src/config/env.ts), and enum-like schemas that name their values.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { Type } from 'typebox'
import { Value } from 'typebox/value'
import { ConfigError, EnvSchema, adminAuthMode, loadConfig } from '../../src/config/env.js'
import { tracesEndpoint } from '../../src/observability/tracing.js'
import { compileRouteMap } from '../../src/config/route-map-loader.js'
import { RouteMapError } from '../../src/config/route-types.js'
import { allowedValues, isUnionMemberError, oneOfMessage } from '../../src/config/schema-values.js'
import { ROOT_URL } from '../helpers/root.js'

t.test('defaults apply when nothing is set', async (t) => {
  const c = loadConfig({})
  t.equal(c.PORT, 8080)
  t.equal(c.HOST, '127.0.0.1')
  t.equal(c.ROUTES_FILE, './routes.yaml')
  t.equal(c.REDIS_URL, undefined)
  t.equal(c.ACCESS_TOKEN_TTL, 900)
  t.equal(c.issuer, 'http://127.0.0.1:8080')
  t.equal(c.REVOCATION_MODE, 'replicated', 'issue 10: revocation answered from the local view by default')
  t.equal(c.REVOCATION_MAX_LAG, 1)
  t.equal(c.REFRESH_GRACE, 10, 'issue 12 item 6: a lost refresh response may be retried for 10 s')
  t.equal(loadConfig({ REVOCATION_MODE: 'strict' }).REVOCATION_MODE, 'strict', 'strict stays selectable')
  t.equal(c.BCRYPT_THREADS, Math.min(16, availableParallelism()), 'one bcrypt worker per core this process may use (issue 10)')
  t.equal(loadConfig({ BCRYPT_THREADS: '3' }).BCRYPT_THREADS, 3, 'the variable still overrides it')
  t.equal(c.BCRYPT_NICE, 10, 'bcrypt workers below the event loop by default (issue 10 §4)')
  t.equal(c.BCRYPT_SCHED_IDLE, '0', 'SCHED_IDLE only when asked for')
  t.ok(Object.isFrozen(c), 'config is frozen')
})

t.test('numbers are converted from strings; empty means unset', async (t) => {
  const c = loadConfig({ PORT: '9091', CLOCK_SKEW: '0', ACCESS_TOKEN_TTL: '60', REDIS_URL: '' })
  t.equal(c.PORT, 9091)
  t.equal(c.CLOCK_SKEW, 0)
  t.equal(c.ACCESS_TOKEN_TTL, 60)
  t.equal(c.REDIS_URL, undefined)
})

const bad: Array<[Record<string, string>, RegExp, string]> = [
  [{ PORT: 'eighty' }, /PORT="eighty"/, 'non-numeric port'],
  [{ PORT: '70000' }, /PORT="70000"/, 'port out of range'],
  [{ ACCESS_TOKEN_TTL: '1.5' }, /ACCESS_TOKEN_TTL/, 'durations are whole seconds'],
  [{ ACCESS_TOKEN_TTL: '15m' }, /ACCESS_TOKEN_TTL/, 'durations in env carry no units'],
  [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud"/, 'unknown log level'],
  [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL/, 'REDIS_URL must be a redis:// URL'],
  [{ SIGNING_ALG: 'HS256' }, /SIGNING_ALG/, 'symmetric signing is not offered'],
  [{ REVOCATION_MAX_LAG: '0' }, /REVOCATION_MAX_LAG="0"/, 'a lag bound of nothing: the view would never be trusted'],
  [{ REVOCATION_MAX_LAG: '500ms' }, /REVOCATION_MAX_LAG="500ms"/, 'the lag bound is whole seconds, like every duration in env'],
  [{ NODE_ENV: 'production' }, /REDIS_URL is required when NODE_ENV=production/, 'production needs Redis'],
  [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_PROTOCOL="grpc" must be one of http\/protobuf, http\/json/, 'OTLP over gRPC is not offered'],
  [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318"/, 'the collector is an http(s) URL'],
  [{ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, /OTEL_TRACES_SAMPLER="jaeger_remote" must be one of/, 'an unknown sampler is refused, not defaulted'],
  [{ OTEL_TRACES_SAMPLER_ARG: '1.5' }, /OTEL_TRACES_SAMPLER_ARG="1.5"/, 'a ratio is between 0 and 1'],
  [{ NODE_ENV: 'production', REDIS_URL: 'redis://r:6379' }, /SESSION_SECRET \(at least 32 bytes\) is required when NODE_ENV=production/, 'production needs SESSION_SECRET'],
  [{ SESSION_SECRET: 'short' }, /SESSION_SECRET/, 'SESSION_SECRET under 32 bytes'],
  [{ REDIS_URL: 'redis://r:6379', REDIS_SENTINELS: 's1:26379' }, /set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES \(found REDIS_URL, REDIS_SENTINELS\)/, 'issue 11 item 1: two Redis modes'],
  [{ REDIS_SENTINELS: 's1:26379', REDIS_CLUSTER_NODES: 'c1:7000' }, /found REDIS_SENTINELS, REDIS_CLUSTER_NODES/, 'Sentinel and Cluster at once'],
  [{ REDIS_SENTINELS: 's1' }, /REDIS_SENTINELS="s1"/, 'a sentinel without a port'],
  [{ REDIS_CLUSTER_NODES: 'c1:7000,' }, /REDIS_CLUSTER_NODES/, 'a trailing comma'],
  [{ REDIS_TLS: 'yes' }, /REDIS_TLS="yes" must be one of 0, 1/, 'REDIS_TLS is 0 or 1'],
  [{ REDIS_MIN_REPLICAS: '-1' }, /REDIS_MIN_REPLICAS/, 'a negative replica count']
]

t.test('issue 11 item 1: a production gateway runs on any one Redis mode', async (t) => {
  const secret = 'x'.repeat(32)
  for (const mode of [{ REDIS_SENTINELS: 's1:26379,s2:26379' }, { REDIS_CLUSTER_NODES: '10.0.0.1:7000,[::1]:7001' }]) {
    const c = loadConfig({ NODE_ENV: 'production', SESSION_SECRET: secret, ...mode })
    t.equal(c.REDIS_URL, undefined)
    t.equal(c.REDIS_SENTINEL_NAME, 'mymaster', 'default master name')
    t.equal(c.REDIS_MIN_REPLICAS, undefined, 'the default depends on the mode (src/store/redis/target.ts)')
  }
})

t.test('SESSION_SECRET: used when set; outside production one is generated per process', async (t) => {
  const secret = 'x'.repeat(32)
  t.equal(loadConfig({ SESSION_SECRET: secret }).sessionSecret, secret)
  t.equal(loadConfig({ NODE_ENV: 'production', REDIS_URL: 'redis://r:6379', SESSION_SECRET: secret }).sessionSecret, secret)
  const a = loadConfig({}).sessionSecret
  t.ok(Buffer.byteLength(a) >= 32, 'generated: at least 32 bytes')
  t.not(loadConfig({}).sessionSecret, a, 'a fresh one per load')
})

t.test('a bad value is one clear line naming the variable', async (t) => {
  for (const [env, re, why] of bad) {
    t.throws(() => loadConfig(env), ConfigError, why)
    try { loadConfig(env) } catch (err) {
      const msg = (err as Error).message
      t.match(msg, re, why)
      t.notOk(msg.includes('\n'), `${why}: one line`)
    }
  }
})

t.test('every variable is documented in the README configuration table', async (t) => {
  const readme = readFileSync(new URL('README.md', ROOT_URL), 'utf8')
  for (const name of Object.keys(EnvSchema.properties)) {
    t.match(readme, new RegExp('\\| `' + name + '` \\|'), `${name} has a README row`)
  }
})

t.test('input limits: defaults (README "Limits")', async (t) => {
  const c = loadConfig({})
  t.equal(c.MAX_HEADER_SIZE, 16_384, 'Node default, 16 KiB')
  t.equal(c.MAX_BODY_SIZE, 10 * 1024 * 1024, '10 MiB')
  t.equal(c.MAX_TOKEN_LENGTH, 4096)
  t.equal(c.REQUEST_TIMEOUT, 30)
  t.equal(c.HEADERS_TIMEOUT, 10)
  t.equal(c.MAX_CONNECTIONS, 10_000)
})

t.test('input limits: bad values are refused, not defaulted', async (t) => {
  const cases: Array<[Record<string, string>, RegExp, string]> = [
    [{ MAX_HEADER_SIZE: '16kb' }, /MAX_HEADER_SIZE="16kb" must be a whole number/, 'sizes in env are plain bytes'],
    [{ MAX_HEADER_SIZE: '100' }, /MAX_HEADER_SIZE="100"/, 'a head too small for any token'],
    [{ MAX_TOKEN_LENGTH: '100000' }, /MAX_TOKEN_LENGTH="100000"/, 'above the 8192 cap of the verifier'],
    [{ MAX_BODY_SIZE: '-1' }, /MAX_BODY_SIZE="-1"/, 'negative size'],
    [{ REQUEST_TIMEOUT: '0' }, /REQUEST_TIMEOUT="0"/, 'no unbounded requests'],
    [{ HEADERS_TIMEOUT: '0' }, /HEADERS_TIMEOUT="0"/, 'no unbounded headers'],
    [{ MAX_CONNECTIONS: '0' }, /MAX_CONNECTIONS="0"/, 'at least one connection'],
    [{ HEADERS_TIMEOUT: '20', REQUEST_TIMEOUT: '10' }, /HEADERS_TIMEOUT=20 must not exceed REQUEST_TIMEOUT=10/, 'headers are part of the request']
  ]
  for (const [env, re, why] of cases) t.throws(() => loadConfig(env), re, why)
  t.equal(loadConfig({ HEADERS_TIMEOUT: '5', REQUEST_TIMEOUT: '5' }).HEADERS_TIMEOUT, 5, 'equal is fine')
})

t.test('an enum error names every allowed value, for each bad variable (issue 9)', async (t) => {
  const err = t.throws(() => loadConfig({ LOG_LEVEL: 'loud', SIGNING_ALG: 'HS256', REVOCATION_MODE: 'fast' })) as Error
  t.equal(err.message, 'invalid configuration: ' +
    'LOG_LEVEL="loud" must be one of fatal, error, warn, info, debug, trace, silent; ' +
    'SIGNING_ALG="HS256" must be one of ES256, EdDSA, RS256; ' +
    'REVOCATION_MODE="fast" must be one of strict, replicated')
  t.notMatch(err.message, /constant|anyOf/, 'no TypeBox wording')
})

t.test('NODE_ENV: an unknown value is refused, not treated as development (issue 9)', async (t) => {
  for (const value of ['prod', 'Production', 'dev', 'staging']) {
    t.throws(() => loadConfig({ NODE_ENV: value }),
      { name: 'ConfigError', message: `invalid configuration: NODE_ENV=${JSON.stringify(value)} must be one of development, production, test` }, value)
  }
  for (const value of ['development', 'test'] as const) t.equal(loadConfig({ NODE_ENV: value }).NODE_ENV, value)
  t.equal(loadConfig({ NODE_ENV: 'production', REDIS_URL: 'redis://127.0.0.1:1', SESSION_SECRET: 's'.repeat(32) }).NODE_ENV, 'production')
})

t.test('tracing is on only with an OTLP endpoint; the traces endpoint is used as is (README "Tracing")', async (t) => {
  t.equal(tracesEndpoint(loadConfig({})), null, 'off by default')
  t.equal(tracesEndpoint(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' })), 'http://otel:4318/v1/traces')
  t.equal(tracesEndpoint(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318/base/' })), 'http://otel:4318/base/v1/traces')
  t.equal(tracesEndpoint(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t.example/x' })),
    'https://t.example/x', 'the traces endpoint wins, unchanged')
  t.equal(tracesEndpoint(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318', OTEL_SDK_DISABLED: 'true' })), null, 'OTEL_SDK_DISABLED')
  t.equal(loadConfig({}).OTEL_TRACES_SAMPLER, 'parentbased_always_on', 'the OpenTelemetry default sampler')
  t.equal(loadConfig({ OTEL_TRACES_SAMPLER_ARG: '0.25' }).OTEL_TRACES_SAMPLER_ARG, '0.25')
})

t.test('admin listener settings: defaults, the loopback rule for ADMIN_AUTH, and no shared port', async (t) => {
  const c = loadConfig({})
  t.equal(c.ADMIN_PORT, 9090)
  t.equal(c.ADMIN_HOST, '127.0.0.1')
  t.equal(adminAuthMode(c), 'none', 'loopback: no token needed by default')
  t.equal(adminAuthMode(loadConfig({ ADMIN_HOST: '0.0.0.0' })), 'required', 'any other address: required by default')
  t.equal(adminAuthMode(loadConfig({ ADMIN_HOST: '::1' })), 'none')
  t.equal(adminAuthMode(loadConfig({ ADMIN_HOST: '10.0.0.5', ADMIN_AUTH: 'none' })), 'none', 'an explicit setting wins')
  t.equal(adminAuthMode(loadConfig({ ADMIN_AUTH: 'required' })), 'required')
  t.throws(() => loadConfig({ PORT: '9090' }), /ADMIN_PORT=9090 must differ from PORT/, 'the proxy port never doubles as the admin port')
  t.equal(loadConfig({ PORT: '9090', ADMIN_PORT: '0' }).ADMIN_PORT, 0, 'ADMIN_PORT=0: off, no clash')
  t.throws(() => loadConfig({ ADMIN_AUTH: 'maybe' }), /ADMIN_AUTH="maybe"/)
})

// Enum-like schemas name their allowed values in config errors (env.ts and the route-map loader)
// instead of TypeBox's "must be equal to constant" (issue 9).

t.test('allowedValues: enum and unions of literals; null for anything else', async (t) => {
  t.same(allowedValues(Type.Enum(['a', 'b'])), ['a', 'b'])
  t.same(allowedValues(Type.Union([Type.Literal('x'), Type.Literal(2)])), ['x', 2])
  t.equal(allowedValues(Type.Union([Type.Literal('x'), Type.String()])), null, 'a union with a non-literal member')
  t.equal(allowedValues(Type.String()), null)
  t.equal(allowedValues(undefined), null)
  t.equal(oneOfMessage(Type.Enum(['required', 'none'])), 'must be one of required, none')
})

t.test('a union of literals is reported once, by its anyOf error, not once per member', async (t) => {
  const schema = Type.Object({ mode: Type.Union([Type.Literal('strict'), Type.Literal('replicated')]) })
  const errors = [...Value.Errors(schema, { mode: 'fast' })]
  const at = (path: string): unknown => path === '#/properties/mode' ? schema.properties.mode : undefined
  const kept = errors.filter((e) => !isUnionMemberError(e, at))
  t.same(kept.map((e) => e.keyword), ['anyOf'])
  t.equal(oneOfMessage(at(kept[0]!.schemaPath)), 'must be one of strict, replicated')
})

t.test('route map: every enum-valued key names its values when violated', async (t) => {
  const text = [
    'version: 1',
    'upstreams:',
    '  u: { url: http://127.0.0.1:9001 }',
    'defaults: { auth: sometimes }',
    'routes:',
    '  - { path: /a/*, methods: [GIT], upstream: u, rate_limit: { limit: 1, window: 1m, by: who } }',
    ''
  ].join('\n')
  const err = t.throws(() => compileRouteMap(text, 'r.yaml')) as RouteMapError
  t.type(err, RouteMapError)
  const messages = err.issues.map((i) => i.message)
  t.match(messages.join('\n'), /defaults\.auth: must be one of required, optional, none, got "sometimes"/)
  t.match(messages.join('\n'), /methods\[0\]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS/)
  t.match(messages.join('\n'), /rate_limit\.by: must be one of subject, client, ip, got "who"/)
  t.notMatch(messages.join('\n'), /constant|anyOf/)
})
