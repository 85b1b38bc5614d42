// RFC 6749 §4.3 (password) and §4.4 (client credentials), §3.3 scope; RFC 9068 token claims (catalogue T22–T34).
import t from 'tap'
import { verifyAccessToken } from '../../src/oauth/jwt.js'
import { hashSecret } from '../../src/oauth/passwords.js'
import { basic, buildOAuthApp, decodeSegment, FIXTURE, post, seedClient, seedFixture, seedUser } from '../helpers/oauth.js'

const pw = { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password }
const webAuth = { authorization: basic('web', FIXTURE.webSecret) }
const svcAuth = { authorization: basic('svc', FIXTURE.svcSecret) }
const BAD_LOGIN = { error: 'invalid_grant', error_description: 'Invalid username or password' }

t.test('RFC 6749 §4.3.3 + RFC 9068 §2: password grant issues an at+jwt with every required claim (T22)', async (t) => {
  const { app, store, keys, config } = await buildOAuthApp(t)
  await seedFixture(store)
  const res = await post(app, '/oauth/token', pw, webAuth)
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.match(body, { token_type: 'Bearer', expires_in: 900, scope: 'read write', refresh_token: /^[A-Za-z0-9_-]{43}$/ })
  t.same(decodeSegment(body.access_token, 0), { alg: 'ES256', typ: 'at+jwt', kid: keys.signingKey().kid })
  const claims = await verifyAccessToken(keys, body.access_token, { issuer: config.issuer, audience: config.AUDIENCE, clockSkew: 0 })
  t.match(claims, { iss: 'https://as.example', sub: 'alice', aud: 'portcullis', client_id: 'web', scope: 'read write', sid: /^[A-Za-z0-9_-]{22}$/, jti: /^[A-Za-z0-9_-]{22,}$/ })
  t.equal(claims.exp - claims.iat, 900)
  t.equal(Buffer.from(claims.jti, 'base64url').length, 16, 'jti has 128 random bits')
})

t.test('RFC 6749 §4.3.2: username and password are required', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  for (const body of [{ grant_type: 'password', username: 'alice' }, { grant_type: 'password', password: 'x' }] as Array<Record<string, string>>) {
    const res = await post(app, '/oauth/token', body, webAuth)
    t.equal(res.statusCode, 400)
    t.same(res.json(), { error: 'invalid_request', error_description: 'username and password are required' })
  }
})

t.test('RFC 6749 §5.2 invalid_grant: unknown user, wrong password, disabled user are indistinguishable (T23–T25)', async (t) => {
  const { app, store } = await buildOAuthApp(t, { env: { LOGIN_MAX_FAILURES: '1000', TOKEN_RATE_LIMIT: '100000' } })
  await seedFixture(store)
  await seedUser(store, 'bob', 'bobs password', ['read'], { disabled: true })
  const wrong = await post(app, '/oauth/token', { ...pw, password: 'wrong' }, webAuth)
  const unknown = await post(app, '/oauth/token', { ...pw, username: 'mallory' }, webAuth)
  const disabled = await post(app, '/oauth/token', { ...pw, username: 'bob', password: 'bobs password' }, webAuth)
  const invalidName = await post(app, '/oauth/token', { ...pw, username: 'no such:user' }, webAuth)
  for (const res of [wrong, unknown, disabled, invalidName]) {
    t.equal(res.statusCode, 400)
    t.same(res.json(), BAD_LOGIN)
  }
  const strip = (h: Record<string, unknown>): Record<string, unknown> => { const { date: _d, ...rest } = h; return rest }
  t.same(strip(unknown.headers), strip(wrong.headers), 'identical headers (but Date)')
  t.equal(unknown.body, wrong.body, 'byte-identical bodies')
})

t.test('unknown user and wrong password take about the same time (dummy bcrypt compare, T24)', async (t) => {
  const { app, store } = await buildOAuthApp(t, { env: { LOGIN_MAX_FAILURES: '1000', TOKEN_RATE_LIMIT: '100000' } })
  await store.putUser({ name: 'alice', passwordHash: await hashSecret(FIXTURE.password, 8), scopes: ['read'], disabled: false, createdAt: 0 })
  // Same cost for client and user, as in production (BCRYPT_COST): the dummy takes the last cost seen.
  await store.putClient({ id: 'web', secretHash: await hashSecret(FIXTURE.webSecret, 8), grants: ['password'], scopes: ['read'], disabled: false, createdAt: 0 })
  const once = async (username: string): Promise<number> => {
    const started = performance.now()
    await post(app, '/oauth/token', { ...pw, username, password: 'wrong' }, webAuth)
    return performance.now() - started
  }
  await once('alice') // warm-up: the dummy takes the cost of the real hash (8)
  // Interleaved, so background load hits both series alike.
  const knownSamples: number[] = []
  const unknownSamples: number[] = []
  for (let i = 0; i < 21; i++) {
    knownSamples.push(await once('alice'))
    unknownSamples.push(await once('mallory'))
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[10] ?? 0
  const known = median(knownSamples)
  const unknown = median(unknownSamples)
  t.ok(known > 5, `a cost-8 compare is measurable (${known.toFixed(1)} ms)`)
  t.ok(Math.abs(known - unknown) < known * 0.5, `medians within 50%: known ${known.toFixed(1)} ms, unknown ${unknown.toFixed(1)} ms`)
})

t.test('bcrypt 72-byte limit: a longer password never logs in, not even its 72-byte prefix (T27)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const prefix = 'a'.repeat(72)
  await seedUser(store, 'carol', prefix, ['read'])
  const longer = await post(app, '/oauth/token', { ...pw, username: 'carol', password: prefix + 'X' }, webAuth)
  t.equal(longer.statusCode, 400)
  t.same(longer.json(), BAD_LOGIN, '73 bytes that bcrypt would truncate to the right password: refused')
  const exact = await post(app, '/oauth/token', { ...pw, username: 'carol', password: prefix }, webAuth)
  t.equal(exact.statusCode, 200, 'exactly 72 bytes works')
  const multibyte = await post(app, '/oauth/token', { ...pw, username: 'carol', password: 'a'.repeat(71) + 'é' }, webAuth)
  t.same(multibyte.json(), BAD_LOGIN, '73 UTF-8 bytes across the boundary: refused')
})

t.test('usernames are case-insensitive: Alice and alice are one identity (T26)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const res = await post(app, '/oauth/token', { ...pw, username: 'ALICE' }, webAuth)
  t.equal(res.statusCode, 200)
  t.equal(decodeSegment(res.json().access_token, 1).sub, 'alice')
})

t.test('RFC 6749 §3.3: granted = requested ∩ user ∩ client; outside → invalid_scope (T31)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const rows: Array<[string, string | undefined, number, string]> = [
    ['none requested: everything allowed', undefined, 200, 'read write'],
    ['a subset', 'write', 200, 'write'],
    ['duplicates collapse', 'read read', 200, 'read'],
    ['the user has admin, the client does not', 'read admin', 400, 'invalid_scope'],
    ['nobody has it', 'delete', 400, 'invalid_scope'],
    ['illegal characters (RFC 6749 §3.3 scope-token)', 'read "x"', 400, 'invalid_scope']
  ]
  for (const [what, scope, status, expected] of rows) {
    const res = await post(app, '/oauth/token', scope === undefined ? pw : { ...pw, scope }, webAuth)
    t.equal(res.statusCode, status, what)
    if (status === 200) {
      t.equal(res.json().scope, expected, what)
      t.equal(decodeSegment(res.json().access_token, 1).scope, expected, `${what}: token scope`)
    } else t.equal(res.json().error, expected, what)
  }
})

t.test('a client without the refresh_token grant gets no refresh token', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  await seedClient(store, 'once', { secret: 'once-secret', grants: ['password'], scopes: ['read'] })
  const res = await post(app, '/oauth/token', pw, { authorization: basic('once', 'once-secret') })
  t.equal(res.statusCode, 200)
  t.notOk('refresh_token' in res.json())
})

t.test('RFC 6749 §4.4.3: client credentials → no refresh token, sub client:<id>, no sid (T32, T34)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const res = await post(app, '/oauth/token', { grant_type: 'client_credentials' }, svcAuth)
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.notOk('refresh_token' in body)
  t.equal(body.scope, 'read reports')
  const claims = decodeSegment(body.access_token, 1)
  t.equal(claims.sub, 'client:svc', 'RFC 9700 §4.15.1: a client can never pose as a user')
  t.equal(claims.client_id, 'svc')
  t.notOk('sid' in claims)
})

t.test('RFC 6749 §5.2: client credentials with an unregistered scope → invalid_scope (T33)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const res = await post(app, '/oauth/token', { grant_type: 'client_credentials', scope: 'read admin' }, svcAuth)
  t.equal(res.statusCode, 400)
  t.same(res.json(), { error: 'invalid_scope', error_description: 'The requested scope is invalid or exceeds what is allowed' })
  const narrowed = await post(app, '/oauth/token', { grant_type: 'client_credentials', scope: 'reports' }, svcAuth)
  t.equal(narrowed.json().scope, 'reports')
})
