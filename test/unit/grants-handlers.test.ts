// The grant handlers called directly (no HTTP): every refusal asserted with its code and its log detail,
// and every issued outcome in full. RFC 6749 §4.3 (password), §4.4 (client credentials), §6 (refresh)
// with RFC 9700 §4.14.2 rotation and reuse detection; SECURITY.md T23–T46.
// Over HTTP: test/protocol/grants.test.ts, test/protocol/refresh.test.ts.
import { dpopSettings } from '../../src/oauth/dpop-request.js'
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { loadConfig } from '../../src/config/env.js'
import { GatewayError } from '../../src/errors/gateway-error.js'
import type { AuthenticatedClient } from '../../src/oauth/client-auth.js'
import type { OAuthDeps } from '../../src/oauth/deps.js'
import { FormParams } from '../../src/oauth/form.js'
import { clientCredentialsGrant } from '../../src/oauth/grants/client-credentials.js'
import { passwordGrant } from '../../src/oauth/grants/password.js'
import { refreshTokenGrant } from '../../src/oauth/grants/refresh-token.js'
import type { GrantHandler } from '../../src/oauth/grants/types.js'
import type { KeyRing } from '../../src/oauth/keys.js'
import type { LoginThrottle } from '../../src/oauth/login-throttle.js'
import { hashSecret } from '../../src/oauth/passwords.js'
import { hashRefreshToken, newRefreshToken } from '../../src/oauth/refresh-tokens.js'
import { MemoryStore } from '../../src/store/index.js'
import type { ClientRecord, ConsumeResult, RefreshTokenRecord, RevocationQuery, RevocationState, Store } from '../../src/store/types.js'

const NOW_S = 1_800_000_000
const config = loadConfig({ ISSUER: 'https://as.example', AUDIENCE: 'portcullis', BCRYPT_COST: '4' })
const noGrace = loadConfig({ ISSUER: 'https://as.example', AUDIENCE: 'portcullis', BCRYPT_COST: '4', REFRESH_GRACE: '0' })
const PASSWORD = 'correct horse battery staple'
const pwHash = await hashSecret(PASSWORD, 4)
const secretHash = await hashSecret('web-secret', 4)

function client (over: Partial<ClientRecord> = {}): ClientRecord {
  return { id: 'web', secretHash, grants: ['password', 'refresh_token'], scopes: ['read', 'write'], disabled: false, createdAt: 0, ...over }
}

const basicAuth = (c: ClientRecord = client()): AuthenticatedClient => ({ client: c, method: 'client_secret_basic' })

function form (params: Record<string, string>): FormParams {
  return new FormParams(new Map(Object.entries(params)))
}

interface Setup {
  store: MemoryStore
  deps: OAuthDeps
  throttle: string[]
  warnings: Array<Record<string, unknown>>
  call: (grant: GrantHandler, params: Record<string, string>, auth?: AuthenticatedClient) => Promise<unknown>
}

/** A memory store and deps; `depsNow` lets the handlers' clock run ahead of the store's. */
async function setup (opts: { storeNowS?: number, depsNowS?: number, wrap?: (store: MemoryStore) => Store, config?: typeof config } = {}): Promise<Setup> {
  const store = new MemoryStore({ now: () => (opts.storeNowS ?? NOW_S) * 1000 })
  // the store's epoch is confirmed, as the token endpoint requires before any grant (SECURITY.md E02)
  await store.epoch.verify()
  await store.putUser({ name: 'alice', passwordHash: pwHash, scopes: ['read', 'write', 'admin'], disabled: false, createdAt: 0 })
  await store.putUser({ name: 'bob', passwordHash: pwHash, scopes: ['read'], disabled: true, createdAt: 0 })
  const throttle: string[] = []
  const fakeThrottle = {
    async beginLogin (name: string) { throttle.push(`begin:${name}`) },
    async loginSucceeded (name: string) { throttle.push(`ok:${name}`) }
  } as unknown as LoginThrottle
  const deps: OAuthDeps = { config: opts.config ?? config, store: opts.wrap?.(store) ?? store, keys: {} as KeyRing, throttle: fakeThrottle, now: () => (opts.depsNowS ?? NOW_S) * 1000, dpop: dpopSettings(config, store) }
  const warnings: Array<Record<string, unknown>> = []
  const request = { log: { warn: (o: Record<string, unknown>, msg: string) => warnings.push({ ...o, msg }), info: (o: Record<string, unknown>, msg: string) => warnings.push({ ...o, msg }) } } as unknown as FastifyRequest
  const call = async (grant: GrantHandler, params: Record<string, string>, auth: AuthenticatedClient = basicAuth()): Promise<unknown> => {
    try {
      return await grant({ deps, form: form(params), auth, request })
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err
      return { code: err.code, description: err.description, detail: err.detail }
    }
  }
  return { store, deps, throttle, warnings, call }
}

/** The memory store with some methods replaced (its own methods stay bound to it: private fields). */
function override (store: MemoryStore, methods: Partial<Record<keyof Store, unknown>>): Store {
  return new Proxy(store, {
    get (target, prop) {
      if (Object.hasOwn(methods, prop)) return methods[prop as keyof Store]
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  }) as unknown as Store
}

const badLogin = (detail: string): object => ({ code: 'invalid_grant', description: 'Invalid username or password', detail })
const invalidGrant = (detail: string): object => ({ code: 'invalid_grant', description: 'The grant is invalid, expired or revoked', detail })

// --- client credentials -----------------------------------------------------------------------

t.test('RFC 6749 §4.4: client credentials only for confidential clients; sub client:<id> (T32, T34)', async (t) => {
  const s = await setup()
  const svc = client({ id: 'svc', grants: ['client_credentials'], scopes: ['read', 'reports'] })
  t.same(await s.call(clientCredentialsGrant, {}, basicAuth(svc)), { sub: 'client:svc', scope: ['read', 'reports'] })
  t.same(await s.call(clientCredentialsGrant, { scope: 'reports' }, basicAuth(svc)), { sub: 'client:svc', scope: ['reports'] })
  t.same(await s.call(clientCredentialsGrant, { scope: 'read admin' }, basicAuth(svc)),
    { code: 'invalid_scope', description: 'The requested scope is invalid or exceeds what is allowed', detail: 'not allowed: admin' }, 'T33')
  const publicRefusal = { code: 'unauthorized_client', description: 'Public clients cannot use client_credentials', detail: undefined }
  t.same(await s.call(clientCredentialsGrant, {}, { client: { ...svc, secretHash: null }, method: 'none' }), publicRefusal, 'a public client')
  t.same(await s.call(clientCredentialsGrant, {}, { client: svc, method: 'none' }), publicRefusal, 'no client authentication')
  t.same(await s.call(clientCredentialsGrant, {}, { client: { ...svc, secretHash: null }, method: 'client_secret_post' }), publicRefusal, 'a client without a secret')
})

// --- password ---------------------------------------------------------------------------------

t.test('RFC 6749 §4.3.2: username and password are REQUIRED', async (t) => {
  const s = await setup()
  const missing = { code: 'invalid_request', description: 'username and password are required', detail: undefined }
  t.same(await s.call(passwordGrant, { username: 'alice' }), missing)
  t.same(await s.call(passwordGrant, { password: PASSWORD }), missing)
  t.same(s.throttle, [], 'nothing counted for a malformed request')
})

t.test('T23–T25: unknown user, wrong password and disabled user are one invalid_grant (the log says which)', async (t) => {
  const s = await setup()
  t.same(await s.call(passwordGrant, { username: 'mallory', password: PASSWORD }), badLogin('unknown user'))
  t.same(await s.call(passwordGrant, { username: 'alice', password: 'wrong' }), badLogin('wrong password'))
  t.same(await s.call(passwordGrant, { username: 'bob', password: PASSWORD }), badLogin('user disabled'), 'right password, disabled user')
  t.same(await s.call(passwordGrant, { username: 'no such:user', password: PASSWORD }), badLogin('unknown user'), 'a name that cannot exist')
  t.same(s.throttle, ['begin:mallory', 'begin:alice', 'begin:bob', 'begin:no such:user'],
    'every attempt counts against the username; a failure is never forgiven')
})

t.test('T24: a username that cannot exist is never looked up in the store (no `user:null` key)', async (t) => {
  const lookups: unknown[] = []
  const s = await setup({ wrap: (store) => override(store, { getUser: async (name: unknown) => { lookups.push(name); return await store.getUser(name as string) } }) })
  t.same(await s.call(passwordGrant, { username: 'no such:user', password: PASSWORD }), badLogin('unknown user'))
  t.same(await s.call(passwordGrant, { username: 'x'.repeat(300), password: PASSWORD }), badLogin('unknown user'))
  t.same(lookups, [], 'refused without a lookup, after the same bcrypt work (verifySecret against no hash)')
  t.match(await s.call(passwordGrant, { username: 'Alice', password: PASSWORD }), { sub: 'alice' })
  t.same(lookups, ['alice'], 'a possible name is looked up normalised')
})

t.test('T26: the attempt counts against the normalised username; success forgives it', async (t) => {
  const s = await setup()
  const out = await s.call(passwordGrant, { username: 'ALICE', password: PASSWORD }) as Record<string, unknown>
  t.equal(out.sub, 'alice')
  t.same(s.throttle, ['begin:alice', 'ok:alice'])
  const odd = await setup()
  await odd.call(passwordGrant, { username: 'No Such:User', password: PASSWORD })
  t.same(odd.throttle, ['begin:no such:user'], 'an impossible name is counted lower-cased too')
})

t.test('RFC 6749 §3.3 (T31): granted = requested ∩ user ∩ client; the refresh family keeps that scope', async (t) => {
  const s = await setup()
  const out = await s.call(passwordGrant, { username: 'alice', password: PASSWORD }) as { sub: string, scope: string[], sid: string, refreshToken: string }
  t.equal(out.sub, 'alice')
  t.same(out.scope, ['read', 'write'], 'admin is the user\'s, but not the client\'s')
  t.match(out.sid, /^[A-Za-z0-9_-]{22}$/)
  t.match(out.refreshToken, /^[A-Za-z0-9_-]{43}$/)
  t.same(await s.store.getRefreshToken(hashRefreshToken(out.refreshToken)), {
    sid: out.sid, sub: 'alice', clientId: 'web', scope: ['read', 'write'], issuedAt: NOW_S, expiresAt: NOW_S + config.REFRESH_TOKEN_TTL, epoch: s.store.epoch.current
  }, 'the family: its session, owner, client, scope, absolute expiry and store epoch (SECURITY.md E03)')
  const narrow = await s.call(passwordGrant, { username: 'alice', password: PASSWORD, scope: 'write' }) as { scope: string[] }
  t.same(narrow.scope, ['write'])
  t.match(await s.call(passwordGrant, { username: 'alice', password: PASSWORD, scope: 'admin' }), { code: 'invalid_scope' })
})

t.test('a client without the refresh_token grant gets a session but no refresh token', async (t) => {
  const s = await setup()
  const out = await s.call(passwordGrant, { username: 'alice', password: PASSWORD }, basicAuth(client({ grants: ['password'] }))) as Record<string, unknown>
  t.same(Object.keys(out).sort(), ['scope', 'sid', 'sub'])
})

// --- refresh ----------------------------------------------------------------------------------

async function family (s: Setup, over: Partial<RefreshTokenRecord> = {}): Promise<{ token: string, record: RefreshTokenRecord }> {
  const token = newRefreshToken()
  const record: RefreshTokenRecord = {
    sid: 'sid-1', sub: 'alice', clientId: 'web', scope: ['read', 'write'], issuedAt: NOW_S - 100, expiresAt: NOW_S + 1000, epoch: s.store.epoch.current ?? undefined, ...over
  }
  await s.store.putRefreshToken(hashRefreshToken(token), record)
  return { token, record }
}

t.test('RFC 6749 §6: refresh_token is REQUIRED; a token not shaped like ours is never looked up (T43)', async (t) => {
  let lookups = 0
  const s = await setup({ wrap: (store) => override(store, { getRefreshToken: async (h: string) => { lookups++; return await store.getRefreshToken(h) } }) })
  t.same(await s.call(refreshTokenGrant, {}), { code: 'invalid_request', description: 'refresh_token is required', detail: undefined })
  t.same(await s.call(refreshTokenGrant, { refresh_token: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln' }), invalidGrant('not a refresh token'))
  t.same(await s.call(refreshTokenGrant, { refresh_token: 'a'.repeat(42) }), invalidGrant('not a refresh token'))
  t.equal(lookups, 0)
  t.same(await s.call(refreshTokenGrant, { refresh_token: newRefreshToken() }), invalidGrant('unknown or expired refresh token'))
  t.equal(lookups, 1)
})

t.test('RFC 6749 §6 / §10.4 (T41): another client\'s refresh token is refused without burning it', async (t) => {
  const s = await setup()
  const { token } = await family(s)
  const other = basicAuth(client({ id: 'mobile' }))
  t.same(await s.call(refreshTokenGrant, { refresh_token: token }, other), invalidGrant('refresh token of another client'))
  const ok = await s.call(refreshTokenGrant, { refresh_token: token }) as Record<string, unknown>
  t.equal(ok.sub, 'alice', 'the owner can still use it: a thief cannot revoke the owner\'s session')
})

t.test('RFC 6749 §6 (T39, T40): narrowing allowed, widening is invalid_scope without burning the token', async (t) => {
  const s = await setup()
  const { token } = await family(s)
  t.same(await s.call(refreshTokenGrant, { refresh_token: token, scope: 'read admin' }),
    { code: 'invalid_scope', description: 'The requested scope is invalid or exceeds what is allowed', detail: 'not allowed: admin' })
  const out = await s.call(refreshTokenGrant, { refresh_token: token, scope: 'read' }) as { sub: string, scope: string[], sid: string, refreshToken: string }
  t.same({ ...out, refreshToken: typeof out.refreshToken }, { sub: 'alice', scope: ['read'], sid: 'sid-1', refreshToken: 'string', familyExpiresAt: NOW_S + 1000 })
  t.same(await s.store.getRefreshToken(hashRefreshToken(out.refreshToken)), {
    sid: 'sid-1', sub: 'alice', clientId: 'web', scope: ['read', 'write'], issuedAt: NOW_S, expiresAt: NOW_S + 1000, epoch: s.store.epoch.current
  }, 'the next token of the family: original scope, expiry (no extension) and epoch, issued now')
})

t.test('T39: the access token follows today\'s entitlements of user and client', async (t) => {
  const s = await setup()
  const { token } = await family(s, { scope: ['read', 'write', 'admin'] })
  await s.store.updateUser('alice', (u) => ({ ...u, scopes: ['read', 'admin'] }))
  const out = await s.call(refreshTokenGrant, { refresh_token: token }, basicAuth(client({ scopes: ['read', 'write'] }))) as { scope: string[] }
  t.same(out.scope, ['read'], 'write left the user, admin was never the client\'s')
})

t.test('RFC 9700 §4.14.2 (T36, T38): a replayed refresh token revokes the whole family', async (t) => {
  const revoked: Array<[string, number]> = []
  const s = await setup({ config: noGrace, wrap: (store) => override(store, { revokeSession: async (sid: string, until: number) => { revoked.push([sid, until]); await store.revokeSession(sid, until) } }) })
  const { token } = await family(s)
  const first = await s.call(refreshTokenGrant, { refresh_token: token }, basicAuth()) as { refreshToken: string }
  t.same(revoked, [])
  t.same(await s.call(refreshTokenGrant, { refresh_token: token }), invalidGrant('refresh token reused; session revoked'))
  t.same(revoked, [['sid-1', Math.max(NOW_S + 1000, NOW_S + config.ACCESS_TOKEN_TTL) + config.CLOCK_SKEW]],
    'until the family\'s last refresh token and its last access token are dead, plus skew')
  t.same(s.warnings, [{ reason: 'refresh_token_reused', sid: 'sid-1', sub: 'alice', client_id: 'web', msg: 'refresh token replayed: session revoked' }],
    'one warning an operator can alert on')
  t.same(await s.call(refreshTokenGrant, { refresh_token: first.refreshToken }), invalidGrant('session revoked'), 'the rotated token of the family is dead too')
})

t.test('REFRESH_GRACE: a retry of the token just rotated gets the same successor; a retry after that successor was used revokes (T38)', async (t) => {
  const s = await setup()
  const { token } = await family(s)
  const first = await s.call(refreshTokenGrant, { refresh_token: token }) as { refreshToken: string }
  const retry = await s.call(refreshTokenGrant, { refresh_token: token }) as { refreshToken: string }
  t.equal(retry.refreshToken, first.refreshToken, 'the same successor')
  t.same(s.warnings, [{ reason: 'refresh_grace_retry', sid: 'sid-1', client_id: 'web', msg: 'refresh retried within REFRESH_GRACE: same successor' }])
  const next = await s.call(refreshTokenGrant, { refresh_token: first.refreshToken }) as { refreshToken: string }
  t.type(next.refreshToken, 'string')
  t.same(await s.call(refreshTokenGrant, { refresh_token: token }), invalidGrant('refresh token reused; session revoked'), 'two generations old: a replay')
})

t.test('RFC 9449 §5: a family bound to a DPoP key is refreshed only with a proof of it; a refused try does not use the token up', async (t) => {
  const s = await setup()
  const { token } = await family(s, { jkt: 'key-1' })
  const call = async (dpopJkt?: string): Promise<unknown> => {
    try {
      return await refreshTokenGrant({ deps: s.deps, form: form({ refresh_token: token }), auth: basicAuth(), request: { log: { warn () {}, info () {} } } as unknown as FastifyRequest, dpopJkt })
    } catch (err) {
      return { code: (err as GatewayError).code, description: (err as GatewayError).description, detail: (err as GatewayError).detail }
    }
  }
  t.same(await call(), invalidGrant('refresh token bound to another DPoP key'), 'no proof')
  t.same(await call('key-2'), invalidGrant('refresh token bound to another DPoP key'), 'another key')
  t.match(await call('key-1'), { sid: 'sid-1', refreshToken: String }, 'its own key, afterwards: the token was still unused')
})

t.test('a token that expires between the read and the rotation is refused as expired', async (t) => {
  const s = await setup({ wrap: (store) => override(store, { rotateRefreshToken: async (): Promise<ConsumeResult> => ({ status: 'unknown' }) }) })
  const { token } = await family(s)
  t.same(await s.call(refreshTokenGrant, { refresh_token: token }), invalidGrant('refresh token expired'))
})

t.test('RFC 9700 §4.14.2: the family\'s absolute expiry is checked on the handler\'s clock', async (t) => {
  for (const [expiresAt, expected] of [[NOW_S, 'refused'], [NOW_S + 1, 'ok']] as const) {
    const s = await setup({ storeNowS: NOW_S - 10, depsNowS: NOW_S })
    const { token } = await family(s, { expiresAt })
    const out = await s.call(refreshTokenGrant, { refresh_token: token })
    if (expected === 'refused') t.same(out, invalidGrant('refresh token expired'), 'expiresAt = now: expired')
    else t.match(out, { sub: 'alice' }, 'one second left: fine')
  }
})

t.test('RFC 7009 §2.2 (T42, T44–T46): a revoked session, user or client ends the family', async (t) => {
  const rows: Array<[Partial<RevocationState>, string]> = [
    [{ sessionRevoked: true }, 'session revoked'],
    [{ tokenRevoked: true }, 'token revoked'],
    [{ userRevokedBefore: NOW_S - 99 }, 'user revoked before'],
    [{ userDisabled: true }, 'user disabled'],
    [{ clientDisabled: true }, 'client disabled'],
    [{ clientRevokedBefore: NOW_S - 99 }, 'client revoked before']
  ]
  for (const [state, detail] of rows) {
    const seen: RevocationQuery[] = []
    const s = await setup({
      wrap: (store) => override(store, {
        checkRevocation: async (q: RevocationQuery): Promise<RevocationState> => {
          seen.push(q)
          return { tokenRevoked: false, sessionRevoked: false, userRevokedBefore: null, userDisabled: false, clientDisabled: false, clientRevokedBefore: null, ...state }
        }
      })
    })
    const { token } = await family(s)
    t.same(await s.call(refreshTokenGrant, { refresh_token: token }), invalidGrant(detail), detail)
    t.same(seen, [{ jti: 'rt:sid-1', sid: 'sid-1', sub: 'alice', clientId: 'web' }])
  }
  const noCutoff = await setup()
  const early = await family(noCutoff, { issuedAt: -1 })
  t.match(await noCutoff.call(refreshTokenGrant, { refresh_token: early.token }), { sub: 'alice' }, 'no cut-off: never compared, whatever the iat')
  const s = await setup()
  const { token } = await family(s)
  await s.store.revokeUserBefore('alice', NOW_S - 100)
  t.match(await s.call(refreshTokenGrant, { refresh_token: token }), { sub: 'alice' }, 'issued in the cut-off second: after the revocation (iat < cut-off only)')
})

t.test('a user gone or disabled since login cannot refresh', async (t) => {
  const s = await setup()
  const { token } = await family(s, { sub: 'bob' })
  t.same(await s.call(refreshTokenGrant, { refresh_token: token }), invalidGrant('user disabled'), 'disabled: the revocation state says so')
  // defence in depth: the user record itself is checked too, should the revocation state lag behind it
  const clear = async (): Promise<RevocationState> => ({ tokenRevoked: false, sessionRevoked: false, userRevokedBefore: null, userDisabled: false, clientDisabled: false, clientRevokedBefore: null })
  const lagging = await setup({ wrap: (store) => override(store, { checkRevocation: clear }) })
  const bob = await family(lagging, { sub: 'bob' })
  t.same(await lagging.call(refreshTokenGrant, { refresh_token: bob.token }), invalidGrant('user gone or disabled'), 'disabled: the user record says so')
  const gone = await family(s, { sub: 'carol' })
  t.same(await s.call(refreshTokenGrant, { refresh_token: gone.token }), invalidGrant('user gone or disabled'), 'gone')
})

t.test('SECURITY.md E03: a refresh token of another store epoch, or of none, is refused without rotating', async (t) => {
  const s = await setup()
  for (const epoch of ['another-epoch', undefined]) {
    const { token } = await family(s, { epoch })
    t.same(await s.call(refreshTokenGrant, { refresh_token: token }), invalidGrant('store epoch mismatch'), String(epoch))
    t.match(await s.store.consumeRefreshToken(hashRefreshToken(token)), { status: 'active' }, 'never rotated: still unused')
  }
})
