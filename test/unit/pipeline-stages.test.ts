// The edge's stage decisions on hand-built pipeline contexts (no server): match (SECURITY.md P rows),
// authenticate (RFC 6750 §2, §3.1; J35/J36, J50, F01), check-revocation (RFC 7009 §2.2; J67, F02),
// authorize (RFC 6750 §3.1, RFC 9068 §4) and the decision log. Every row asserts the full refusal
// (code, status, headers, detail), so a stage that refuses for the wrong reason fails too.
// End to end: test/integration/edge-auth.test.ts, test/integration/edge-revocation.test.ts.
import t, { type Test } from 'tap'
import type { FastifyRequest } from 'fastify'
import type { CompiledRoute, RouteLookup, RouteTable } from '../../src/config/route-types.js'
import { ERRORS } from '../../src/errors/codes.js'
import { GatewayError } from '../../src/errors/gateway-error.js'
import { newJti, signAccessToken, type AccessTokenClaims } from '../../src/oauth/jwt.js'
import { KeyRing } from '../../src/oauth/keys.js'
import { authenticateStage, scopeList, toIdentity } from '../../src/pipeline/authenticate.js'
import { authorizeStage } from '../../src/pipeline/authorize.js'
import { checkRevocationStage, DEFAULT_RETRY_AFTER } from '../../src/pipeline/check-revocation.js'
import { revocationVerdict } from '../../src/revocation/rule.js'
import type { Identity, PipelineContext, Stage } from '../../src/pipeline/context.js'
import { refusalLog } from '../../src/pipeline/decision-log.js'
import { matchStage } from '../../src/pipeline/match.js'
import type { RevocationReplica } from '../../src/revocation/replica.js'
import { MemoryStore } from '../../src/store/index.js'
import type { RevocationQuery, RevocationState, Store } from '../../src/store/types.js'

const quiet = { info () {}, warn () {}, error () {} }
const NOW_MS = 1_800_000_000_000
const BARE = 'Bearer realm="portcullis"'

function route (over: Partial<CompiledRoute> = {}): CompiledRoute {
  return {
    id: 'GET /x/*', path: '/x/*', methods: ['GET'], auth: 'required', scopes: [], rateLimit: null, forwardToken: true,
    upstream: { name: 'up', origin: 'http://127.0.0.1:1', basePath: '', timeoutMs: 1000 },
    ...over
  }
}

const alice: Identity = {
  subject: 'alice', subjectType: 'user', clientId: 'web', scopes: ['read', 'write'], tokenId: 'j1', sessionId: 's1', issuedAt: 100, expiresAt: 200, storeEpoch: 'epoch-1'
}

function context (over: {
  route?: CompiledRoute | null
  identity?: Identity | null
  url?: string
  method?: string
  authorization?: string[]
  query?: string
} = {}): PipelineContext {
  const auth = over.authorization ?? []
  const rawHeaders = ['Host', 'gw']
  for (const v of auth) rawHeaders.push('Authorization', v)
  const request = {
    headers: auth.length === 0 ? {} : { authorization: auth[0] },
    raw: { url: over.url, method: over.method, rawHeaders },
    pipeline: null as unknown
  }
  const ctx: PipelineContext = {
    request: request as unknown as FastifyRequest,
    reply: {} as never,
    path: '',
    query: over.query ?? '',
    route: over.route === undefined ? route() : over.route,
    params: {},
    identity: over.identity ?? null,
    stage: 'test'
  }
  request.pipeline = ctx
  return ctx
}

/** Runs a stage: 'pass', or the refusal as the test compares it. */
async function run (stage: Stage, ctx: PipelineContext): Promise<string | { code: string, status: number, headers: Record<string, string>, detail: string | undefined, description: string }> {
  try {
    await stage(ctx)
    return 'pass'
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err
    return { code: err.code, status: err.status, headers: err.headers, detail: err.detail, description: err.description }
  }
}

// --- match ----------------------------------------------------------------------------------

function table (answer: RouteLookup, calls: Array<[string, string]> = []): { current(): RouteTable } {
  const tbl = {
    routes: [], upstreams: new Map(), file: 'routes.yaml',
    lookup (method: string, path: string): RouteLookup { calls.push([method, path]); return answer }
  } as unknown as RouteTable
  return { current: () => tbl }
}

t.test('match (SECURITY.md P rows): the route is looked up on the canonical path, which the later stages keep', async (t) => {
  const r = route()
  const calls: Array<[string, string]> = []
  const ctx = context({ url: '/%78/%31?a=1&b=%2F', method: 'GET' })
  t.equal(await run(matchStage(table({ kind: 'match', route: r, params: { '*': '1' } }, calls)), ctx), 'pass')
  t.same(calls, [['GET', '/x/1']], 'the canonical path, not the raw target, is what the route table sees')
  t.equal(ctx.path, '/x/1')
  t.equal(ctx.query, 'a=1&b=%2F', 'the query is kept verbatim')
  t.equal(ctx.route, r)
  t.same(ctx.params, { '*': '1' })
})

t.test('match: an ambiguous target is a 400 bad_path naming the reason, before any lookup (P01, P15)', async (t) => {
  const calls: Array<[string, string]> = []
  const stage = matchStage(table({ kind: 'not_found' }, calls))
  for (const [url, reason] of [
    ['/a/../admin', 'dot segment in path'],
    ['/a/%2f', 'encoded slash or backslash'],
    [undefined, 'request target is not origin-form']
  ] as const) {
    t.same(await run(stage, context({ url, method: 'GET' })), {
      code: 'bad_path', status: 400, headers: { connection: 'close' }, detail: reason, description: ERRORS.bad_path.description
    }, String(url))
  }
  t.same(calls, [], 'nothing was looked up')
})

t.test('match: no route is a 404; a known path with another method is a 405 with Allow (RFC 9110 §15.5.6)', async (t) => {
  const missing = context({ url: '/nope', method: 'GET' })
  t.same(await run(matchStage(table({ kind: 'not_found' })), missing), {
    code: 'route_not_found', status: 404, headers: {}, detail: undefined, description: ERRORS.route_not_found.description
  })
  const calls: Array<[string, string]> = []
  const wrong = context({ url: '/x/1' })
  t.same(await run(matchStage(table({ kind: 'method_not_allowed', allow: ['GET', 'HEAD'] }, calls)), wrong), {
    code: 'method_not_allowed', status: 405, headers: { allow: 'GET, HEAD' }, detail: undefined, description: ERRORS.method_not_allowed.description
  })
  t.same(calls, [['', '/x/1']], 'a request without a method is looked up as the empty method (never matches)')
})

// --- authenticate ---------------------------------------------------------------------------

async function keyRing (t: Test): Promise<KeyRing> {
  const store = new MemoryStore({ now: () => NOW_MS })
  const keys = await KeyRing.load(store, { alg: 'ES256', logger: quiet, now: () => NOW_MS, refreshIntervalMs: 0 })
  t.teardown(() => { keys.close() })
  return keys
}

function claims (over: Partial<AccessTokenClaims> = {}): AccessTokenClaims {
  return {
    iss: 'https://as.example', sub: 'alice', aud: 'portcullis', exp: NOW_MS / 1000 + 900, iat: NOW_MS / 1000,
    jti: newJti(), client_id: 'web', scope: 'read', sid: 's1', ...over
  }
}

function authenticate (keys: KeyRing, over: { maxTokenLength?: number } = {}): Stage {
  return authenticateStage({ keys, issuer: 'https://as.example', audience: 'portcullis', clockSkew: 0, now: () => NOW_MS, ...over })
}

const invalidRequest = (problem: string): object => ({
  code: 'token_malformed_request', status: 400, detail: problem, description: problem,
  headers: { 'www-authenticate': `${BARE}, error="invalid_request", error_description="${problem}"` }
})

t.test('authenticate: auth: none makes no token decision at all, not even on a broken header', async (t) => {
  const keys = await keyRing(t)
  const ctx = context({ route: route({ auth: 'none' }), authorization: ['Bearer a b', 'Bearer c'], query: 'access_token=x' })
  t.equal(await run(authenticate(keys), ctx), 'pass')
  t.equal(ctx.identity, null, 'no identity on an auth: none route, even with a good-looking header')
  const good = context({ route: route({ auth: 'none' }), authorization: [`Bearer ${signAccessToken(keys, claims())}`] })
  t.equal(await run(authenticate(keys), good), 'pass')
  t.equal(good.identity, null)
})

t.test('authenticate: RFC 6750 §3.1, no credentials on auth: required is a 401 with the bare challenge', async (t) => {
  const keys = await keyRing(t)
  const missing = { code: 'token_missing', status: 401, headers: { 'www-authenticate': BARE }, detail: undefined, description: ERRORS.token_missing.description }
  t.same(await run(authenticate(keys), context()), missing, 'no Authorization header')
  t.same(await run(authenticate(keys), context({ authorization: ['Basic dXNlcjpwYXNz'] })), missing, 'another scheme is no bearer credential')
  t.same(await run(authenticate(keys), context({ query: 'access_token=x' })), missing, 'RFC 6750 §2.3 / RFC 9700 §4.3: a query token is never a credential')
})

t.test('authenticate: auth: optional without a bearer token is anonymous; with one, it is checked like required', async (t) => {
  const keys = await keyRing(t)
  const optional = route({ auth: 'optional' })
  for (const authorization of [[], ['Basic dXNlcjpwYXNz']]) {
    const ctx = context({ route: optional, authorization, query: 'access_token=x' })
    t.equal(await run(authenticate(keys), ctx), 'pass', JSON.stringify(authorization))
    t.equal(ctx.identity, null, 'anonymous')
  }
  const bad = await run(authenticate(keys), context({ route: optional, authorization: ['Bearer not-a-jwt'] }))
  t.match(bad, { code: 'token_invalid', status: 401 }, 'a bad token is refused, never downgraded to anonymous')
  const ok = context({ route: optional, authorization: [`Bearer ${signAccessToken(keys, claims())}`] })
  t.equal(await run(authenticate(keys), ok), 'pass')
  t.equal(ok.identity?.subject, 'alice')
})

t.test('authenticate: RFC 6750 §2.1, §3.1 malformed credentials are 400 invalid_request naming the problem', async (t) => {
  const keys = await keyRing(t)
  const token = signAccessToken(keys, claims())
  for (const auth of ['required', 'optional'] as const) {
    const r = route({ auth })
    t.same(await run(authenticate(keys), context({ route: r, authorization: [`Bearer ${token}`, `Bearer ${token}`] })),
      invalidRequest('More than one Authorization header'), `${auth}: two Authorization fields (Node keeps only the first)`)
    t.same(await run(authenticate(keys), context({ route: r, authorization: ['Bearer'] })), invalidRequest('Bearer scheme without a token'), `${auth}: scheme alone`)
    t.same(await run(authenticate(keys), context({ route: r, authorization: [`Bearer  ${token}`] })), invalidRequest('Malformed Authorization header'), `${auth}: two spaces`)
  }
})

t.test('authenticate: RFC 6750 §2, a header token plus an access_token query parameter is a 400 (J61)', async (t) => {
  const keys = await keyRing(t)
  const token = signAccessToken(keys, claims())
  for (const query of ['access_token=x', 'a=1&acc%65ss_token=y']) {
    t.same(await run(authenticate(keys), context({ authorization: [`Bearer ${token}`], query })),
      invalidRequest('Bearer token sent in more than one way'), query)
  }
  const ctx = context({ authorization: [`Bearer ${token}`], query: 'a=1&token=x' })
  t.equal(await run(authenticate(keys), ctx), 'pass', 'another parameter is no second method')
})

t.test('authenticate J36: a token over MAX_TOKEN_LENGTH is invalid_token before any parsing; at the limit it is verified', async (t) => {
  const keys = await keyRing(t)
  const token = signAccessToken(keys, claims())
  const atLimit = context({ authorization: [`Bearer ${token}`] })
  t.equal(await run(authenticate(keys, { maxTokenLength: token.length }), atLimit), 'pass', 'exactly MAX_TOKEN_LENGTH: accepted')
  t.equal(atLimit.identity?.subject, 'alice')
  t.same(await run(authenticate(keys, { maxTokenLength: token.length - 1 }), context({ authorization: [`Bearer ${token}`] })), {
    code: 'token_invalid', status: 401, detail: 'malformed', description: ERRORS.token_invalid.description,
    headers: { 'www-authenticate': `${BARE}, error="invalid_token", error_description="${ERRORS.token_invalid.description}"` }
  }, 'one byte over: refused')
})

t.test('authenticate: RFC 6750 §3.1 a token that fails verification is invalid_token with its stable reason', async (t) => {
  const keys = await keyRing(t)
  const expired = signAccessToken(keys, claims({ exp: NOW_MS / 1000 - 1, iat: NOW_MS / 1000 - 100 }))
  t.same(await run(authenticate(keys), context({ authorization: [`Bearer ${expired}`] })), {
    code: 'token_expired', status: 401, detail: 'expired', description: ERRORS.token_expired.description,
    headers: { 'www-authenticate': `${BARE}, error="invalid_token", error_description="${ERRORS.token_expired.description}"` }
  })
  const wrongAudience = signAccessToken(keys, claims({ aud: 'someone-else' }))
  t.match(await run(authenticate(keys), context({ authorization: [`Bearer ${wrongAudience}`] })), { code: 'token_invalid', status: 401 })
})

t.test('authenticate: fail closed, an unexpected error while verifying is invalid_token (malformed), never a pass', async (t) => {
  const real = await keyRing(t)
  const broken = new Proxy(real, {
    get (target, prop) {
      if (prop === 'verificationKey') return () => { throw new TypeError('unexpected') }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
  const ctx = context({ authorization: [`Bearer ${signAccessToken(real, claims())}`] })
  t.same(await run(authenticate(broken), ctx), {
    code: 'token_invalid', status: 401, detail: 'malformed', description: ERRORS.token_invalid.description,
    headers: { 'www-authenticate': `${BARE}, error="invalid_token", error_description="${ERRORS.token_invalid.description}"` }
  })
  t.equal(ctx.identity, null)
})

t.test('authenticate J50: a verified token whose claims are not header-safe is invalid_token, never an identity', async (t) => {
  const keys = await keyRing(t)
  const ctx = context({ authorization: [`Bearer ${signAccessToken(keys, claims({ sub: 'alice admin' }))}`] })
  t.same(await run(authenticate(keys), ctx), {
    code: 'token_invalid', status: 401, detail: 'bad_claim', description: ERRORS.token_invalid.description,
    headers: { 'www-authenticate': `${BARE}, error="invalid_token", error_description="${ERRORS.token_invalid.description}"` }
  })
  t.equal(ctx.identity, null)
})

t.test('authenticate F01: signing keys not loaded is a 503 with Retry-After, never a 401 and never a pass', async (t) => {
  const cause = new Error('store down')
  const keys = { ready: false, ensureReady: async () => { throw cause } } as unknown as KeyRing
  const ctx = context({ authorization: ['Bearer a.b.c'] })
  t.same(await run(authenticate(keys), ctx), {
    code: 'store_unavailable', status: 503, headers: { 'retry-after': String(DEFAULT_RETRY_AFTER) }, detail: 'signing keys not loaded',
    description: ERRORS.store_unavailable.description
  })
  t.equal(ctx.identity, null)
  t.equal(DEFAULT_RETRY_AFTER, 2)
})

t.test('authenticate F01: keys that load on demand are awaited, then the token is judged', async (t) => {
  const real = await keyRing(t)
  let loads = 0
  const lazy = new Proxy(real, {
    get (target, prop) {
      if (prop === 'ready') return loads > 0
      if (prop === 'ensureReady') return async () => { loads++ }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
  const ctx = context({ authorization: [`Bearer ${signAccessToken(real, claims())}`] })
  t.equal(await run(authenticate(lazy), ctx), 'pass')
  t.equal(loads, 1)
  t.equal(ctx.identity?.subject, 'alice')
})

t.test('toIdentity J50: visible ASCII %x21-7E only, boundaries included', async (t) => {
  const c = claims({ jti: 'j1' })
  t.equal(toIdentity({ ...c, sub: '!~' })?.subject, '!~', '%x21 and %x7E are visible')
  t.equal(toIdentity({ ...c, client_id: '!', sub: 'x' })?.clientId, '!')
  t.equal(toIdentity({ ...c, jti: '~' })?.tokenId, '~')
  t.equal(toIdentity({ ...c, sid: '!~' })?.sessionId, '!~')
  t.equal(toIdentity({ ...c, sid: undefined })?.sessionId, undefined, 'no sid (client_credentials) is fine')
  for (const [name, value] of [['sub', ' a'], ['sub', 'a\u007f'], ['client_id', ''], ['client_id', 'w b'], ['jti', ''], ['jti', 'j 1'], ['sid', ''], ['sid', 's\u0080']] as const) {
    t.equal(toIdentity({ ...c, [name]: value }), null, `${name}=${JSON.stringify(value)}`)
  }
})

t.test('toIdentity RFC 9700 §4.15.1 (J52): a client subject names exactly its own client', async (t) => {
  const c = claims({ sid: undefined })
  t.same(toIdentity({ ...c, sub: 'client:svc', client_id: 'svc' }), {
    subject: 'client:svc', subjectType: 'client', clientId: 'svc', scopes: ['read'], tokenId: c.jti, sessionId: undefined, issuedAt: c.iat, expiresAt: c.exp
  })
  t.equal(toIdentity({ ...c, sub: 'client:xsvc', client_id: 'svc' }), null, 'ends with the client id, but is longer: another client')
  t.equal(toIdentity({ ...c, sub: 'client:abc', client_id: 'xyz' }), null, 'same length, another client')
  t.equal(toIdentity({ ...c, sub: 'xclient:svc', client_id: 'svc' })?.subjectType, 'user', 'the prefix must be at the start')
})

t.test('scopeList RFC 6749 §3.3: scope-token boundaries', async (t) => {
  t.same(scopeList('!'), ['!'])
  t.same(scopeList('~ #'), ['~', '#'])
  t.same(scopeList('[ ]'), ['[', ']'], '%x5B and %x5D are allowed, only %x5C is not')
  for (const bad of [' ', 'a\u007f', 'a\u001f', 'a "', 'x\\']) t.equal(scopeList(bad), null, JSON.stringify(bad))
})

t.test('scopeList: the shared cache holds at most 1024 scope strings (SCOPE_CACHE_MAX), then starts afresh', async (t) => {
  const first = scopeList('bounded-0')
  t.equal(scopeList('bounded-0'), first, 'a hit returns the same array')
  scopeList('bounded-other')
  t.equal(scopeList('bounded-0'), first, 'another scope string does not evict it')
  // find the insert that clears the cache: from then on it holds exactly that one entry
  let last: readonly string[] | null = null
  let i = 1
  for (; i <= 2048; i++) {
    last = scopeList(`fill-${i}`)
    if (scopeList('bounded-0') !== first) break
  }
  t.ok(i <= 2048, 'the cache was cleared once it was full')
  t.not(scopeList('bounded-0'), first, 'evicted by the clear')
  // the cache now holds fill-i and bounded-0: 1022 more fit, the next insert clears it again
  for (let j = 0; j < 1022; j++) scopeList(`refill-${j}`)
  t.equal(scopeList(`fill-${i}`), last, '1024 entries: still cached')
  scopeList('one-more')
  t.not(scopeList(`fill-${i}`), last, 'the 1025th string clears the cache (bounded memory)')
  t.same(scopeList('bounded-0'), ['bounded-0'])
})

// --- check-revocation -----------------------------------------------------------------------

const CLEAR: RevocationState = { tokenRevoked: false, sessionRevoked: false, userRevokedBefore: null, userDisabled: false, clientDisabled: false, clientRevokedBefore: null }

function revocationStore (answer: RevocationState | Error, seen: RevocationQuery[] = [], epoch: string | null = 'epoch-1'): Store {
  return {
    epoch: { current: epoch },
    async checkRevocation (q: RevocationQuery): Promise<RevocationState> {
      seen.push(q)
      if (answer instanceof Error) throw answer
      return answer
    }
  } as unknown as Store
}

const REVOKED_CHALLENGE = `${BARE}, error="invalid_token", error_description="${ERRORS.revoked.description}"`

t.test('check-revocation RFC 7009 §2.2: one store query per authenticated request, keyed by the token\'s ids', async (t) => {
  const seen: RevocationQuery[] = []
  const stage = checkRevocationStage({ store: revocationStore(CLEAR, seen), realm: 'portcullis' })
  t.equal(await run(stage, context({ identity: alice })), 'pass')
  t.same(seen, [{ jti: 'j1', sid: 's1', sub: 'alice', clientId: 'web' }])
  t.equal(stage(context({ identity: null })), undefined, 'anonymous: nothing to check, nothing to await')
  t.equal(seen.length, 1)
})

t.test('the revocation rule: no user or client cut-off means none, whatever the token\'s iat (never compared with null)', async (t) => {
  const facts = (issuedAt: number) => ({ user: true, issuedAt, epoch: 'e' })
  for (const issuedAt of [-1, 0, 1]) t.same(revocationVerdict(facts(issuedAt), 'e', CLEAR), { kind: 'pass' }, `iat ${issuedAt}`)
  t.same(revocationVerdict(facts(-1), 'e', { ...CLEAR, userRevokedBefore: 0 }), { kind: 'refused', reason: 'user revoked before' })
  t.same(revocationVerdict(facts(-1), 'e', { ...CLEAR, clientRevokedBefore: 0 }), { kind: 'refused', reason: 'client revoked before' })
})

t.test('check-revocation: a revoked token is a 401 invalid_token with the reason in the log detail', async (t) => {
  for (const [state, reason] of [
    [{ ...CLEAR, tokenRevoked: true }, 'token revoked'],
    [{ ...CLEAR, sessionRevoked: true }, 'session revoked'],
    [{ ...CLEAR, userRevokedBefore: 101 }, 'user revoked before']
  ] as const) {
    const stage = checkRevocationStage({ store: revocationStore(state), realm: 'portcullis' })
    t.same(await run(stage, context({ identity: alice })), {
      code: 'revoked', status: 401, headers: { 'www-authenticate': REVOKED_CHALLENGE }, detail: reason, description: ERRORS.revoked.description
    }, reason)
  }
})

t.test('check-revocation J67/F02: a store that cannot answer is a 503 + Retry-After, never a pass', async (t) => {
  const down = new Error('connection closed')
  const byDefault = checkRevocationStage({ store: revocationStore(down), realm: 'portcullis' })
  t.same(await run(byDefault, context({ identity: alice })), {
    code: 'store_unavailable', status: 503, headers: { 'retry-after': '2' }, detail: 'revocation check failed', description: ERRORS.store_unavailable.description
  })
  const configured = checkRevocationStage({ store: revocationStore(down), realm: 'portcullis', retryAfter: 7 })
  t.match(await run(configured, context({ identity: alice })), { headers: { 'retry-after': '7' } })
  const seen: RevocationQuery[] = []
  const unconfirmed = checkRevocationStage({ store: revocationStore(CLEAR, seen, null), realm: 'portcullis' })
  t.throws(() => unconfirmed(context({ identity: alice })), { code: 'store_unavailable', status: 503, detail: 'store epoch unconfirmed', headers: { 'retry-after': '2' } },
    'SECURITY.md E04: no confirmed store epoch, no token is judged')
  const otherEpoch = checkRevocationStage({ store: revocationStore(CLEAR, seen, 'epoch-2'), realm: 'portcullis' })
  t.throws(() => otherEpoch(context({ identity: alice })), { code: 'revoked', status: 401, detail: 'store epoch mismatch' },
    'SECURITY.md E02: a token of another epoch is refused')
  t.same(seen, [], 'both decided in memory, before any store read')
})

t.test('check-revocation REVOCATION_MODE=replicated: a live replica decides locally; otherwise the store does', async (t) => {
  const seen: RevocationQuery[] = []
  const asked: RevocationQuery[] = []
  let local: RevocationState | null = { ...CLEAR, sessionRevoked: true }
  const replica = { state: (q: RevocationQuery) => { asked.push(q); return local } } as unknown as RevocationReplica
  const stage = checkRevocationStage({ store: revocationStore(CLEAR, seen), realm: 'portcullis', replica })
  const ctx = context({ identity: alice })
  t.throws(() => stage(ctx), { code: 'revoked', detail: 'session revoked' }, 'refused synchronously from the local view')
  t.same(asked, [{ jti: 'j1', sid: 's1', sub: 'alice', clientId: 'web' }])
  t.same(seen, [], 'no store round trip while the replica is live')
  local = CLEAR
  t.equal(stage(ctx), undefined, 'a clear local view passes without awaiting anything')
  local = null
  t.equal(await run(stage, ctx), 'pass')
  t.equal(seen.length, 1, 'replica not live: the store answers')
})

// --- authorize ------------------------------------------------------------------------------

t.test('authorize RFC 6750 §3.1: a missing scope is a 403 insufficient_scope naming every required scope', async (t) => {
  const stage = authorizeStage({ realm: 'portcullis' })
  const r = route({ scopes: ['orders:write', 'admin'] })
  const refusal = {
    code: 'scope_missing', status: 403, detail: 'needs orders:write admin', description: ERRORS.scope_missing.description,
    headers: { 'www-authenticate': `${BARE}, error="insufficient_scope", scope="orders:write admin"` }
  }
  t.same(await run(stage, context({ route: r, identity: { ...alice, scopes: ['orders:write'] } })), refusal)
  t.same(await run(stage, context({ route: r, identity: { ...alice, scopes: ['admin'] } })), refusal, 'the same refusal again (built once per route)')
  let err: unknown
  try { stage(context({ route: r, identity: alice })) } catch (e) { err = e }
  t.same((err as GatewayError).body(), { error: 'insufficient_scope', error_description: ERRORS.scope_missing.description, scope: 'orders:write admin' })
  t.equal(await run(stage, context({ route: r, identity: { ...alice, scopes: ['admin', 'orders:write'] } })), 'pass')
})

t.test('authorize: fail closed, required scopes without an identity are a 401 (RFC 6750 §3.1 bare challenge)', async (t) => {
  const stage = authorizeStage({ realm: 'portcullis' })
  t.same(await run(stage, context({ route: route({ scopes: ['read'] }), identity: null })), {
    code: 'token_missing', status: 401, headers: { 'www-authenticate': BARE }, detail: undefined, description: ERRORS.token_missing.description
  })
  t.equal(await run(stage, context({ route: route({ scopes: [] }), identity: null })), 'pass', 'no scope required: nothing to decide')
})

// --- decision log ---------------------------------------------------------------------------

t.test('decision log: one shape, only ids the gateway decided on (never a token)', async (t) => {
  const ctx = context({ identity: alice, authorization: ['Bearer secret-token'], query: 'access_token=secret' })
  ctx.stage = 'authorize'
  const ge = new GatewayError('scope_missing', { detail: 'needs admin' })
  t.same(refusalLog(ctx.request, ge), {
    reason: 'scope_missing', outcome: 'refused', stage: 'authorize', route: 'GET /x/*', subject: 'alice', client: 'web', detail: 'needs admin'
  })
  t.same(refusalLog({ pipeline: null } as unknown as FastifyRequest, new GatewayError('route_not_found')), {
    reason: 'route_not_found', outcome: 'refused', stage: null, route: null, subject: null, client: null, detail: undefined
  }, 'a refusal before the pipeline started')
  const early = context({ route: null })
  t.same(refusalLog(early.request, new GatewayError('bad_path')), {
    reason: 'bad_path', outcome: 'refused', stage: 'test', route: null, subject: null, client: null, detail: undefined
  })
})
