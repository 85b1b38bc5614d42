// RFC 7009 revocation and RFC 7662 introspection: the endpoints, then introspection for resource
// servers and the client cut-off.
import t from 'tap'
import { hashRefreshToken, newRefreshToken } from '../../src/oauth/refresh-tokens.js'
import { basic, buildOAuthApp, decodeSegment, FIXTURE, onEveryStore, passwordTokens, post, refresh, seedClient, seedFixture } from '../helpers/oauth.js'
import { addClient, disableClient, enableClient } from '../../src/oauth/accounts.js'

// RFC 7009 revocation and RFC 7662 introspection (catalogue T53–T65), against memory and a real Redis.

const webAuth = { authorization: basic('web', FIXTURE.webSecret) }
const INACTIVE = { active: false }
type App = Parameters<typeof post>[0]

const revoke = async (app: App, params: Record<string, string>, headers: Record<string, string> = webAuth) => await post(app, '/oauth/revoke', params, headers)
const introspect = async (app: App, token: string, headers: Record<string, string> = webAuth) => await post(app, '/oauth/introspect', { token }, headers)

void onEveryStore(t, async (t, makeStore) => {
  t.test('RFC 7009 §2.1: revoking a refresh token ends its session: refresh and access tokens (T53)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const tokens = await passwordTokens(app)
    const res = await revoke(app, { token: tokens.refresh_token!, token_type_hint: 'refresh_token' })
    t.equal(res.statusCode, 200)
    t.equal(res.body, '')
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal((await refresh(app, tokens.refresh_token!)).json().error, 'invalid_grant', 'refresh token refused')
    t.same((await introspect(app, tokens.access_token)).json(), INACTIVE, 'its access token is inactive (same sid)')
    const { sid, jti, sub, client_id: clientId } = decodeSegment(tokens.access_token, 1) as Record<string, string>
    t.equal((await store.checkRevocation({ jti: jti!, sid, sub: sub!, clientId: clientId! })).sessionRevoked, true)
  })

  t.test('RFC 7009 §2.1: revoking an access token refuses it until it expires; the session lives on (T54)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const tokens = await passwordTokens(app)
    t.equal((await revoke(app, { token: tokens.access_token })).statusCode, 200)
    t.same((await introspect(app, tokens.access_token)).json(), INACTIVE)
    const { jti, sub, client_id: clientId } = decodeSegment(tokens.access_token, 1) as Record<string, string>
    t.equal((await store.checkRevocation({ jti: jti!, sub: sub!, clientId: clientId! })).tokenRevoked, true, 'jti on the denylist')
    t.equal((await refresh(app, tokens.refresh_token!)).statusCode, 200, 'the refresh token still works')
  })

  t.test('RFC 7009 §2.1: token_type_hint is only a hint (T58, T59)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const a = await passwordTokens(app)
    await revoke(app, { token: a.refresh_token!, token_type_hint: 'access_token' })
    t.equal((await refresh(app, a.refresh_token!)).statusCode, 400, 'wrong hint: still found and revoked')
    const b = await passwordTokens(app)
    t.equal((await revoke(app, { token: b.access_token, token_type_hint: 'foo' })).statusCode, 200)
    t.same((await introspect(app, b.access_token)).json(), INACTIVE, 'unknown hint ignored')
  })

  t.test('RFC 7009 §2.2: unknown, malformed, already revoked tokens → 200 (T55)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const tokens = await passwordTokens(app)
    await revoke(app, { token: tokens.refresh_token! })
    for (const token of [newRefreshToken(), 'garbage', 'a.b.c', tokens.refresh_token!, 'x'.repeat(5000)]) {
      const res = await revoke(app, { token })
      t.equal(res.statusCode, 200)
      t.equal(res.body, '')
    }
  })

  t.test('RFC 7009 §2.1: a token of another client is left alone, answered 200 like an unknown one (T56)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    await seedClient(store, 'other', { secret: 'other-secret', grants: ['password'], scopes: ['read'] })
    const tokens = await passwordTokens(app)
    const other = { authorization: basic('other', 'other-secret') }
    const rt = await revoke(app, { token: tokens.refresh_token! }, other)
    const at = await revoke(app, { token: tokens.access_token }, other)
    const unknown = await revoke(app, { token: newRefreshToken() }, other)
    for (const res of [rt, at]) {
      t.equal(res.statusCode, 200)
      t.equal(res.body, unknown.body, 'indistinguishable from an unknown token')
    }
    t.equal((await introspect(app, tokens.access_token)).json().active, true, 'access token untouched')
    t.equal((await refresh(app, tokens.refresh_token!)).statusCode, 200, 'refresh token untouched')
  })

  t.test('RFC 7009 §2.1: a public client may revoke its own tokens', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const login = (await post(app, '/oauth/token', { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password, client_id: 'spa' })).json()
    t.equal((await revoke(app, { token: login.refresh_token, client_id: 'spa' }, {})).statusCode, 200)
    const res = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: login.refresh_token, client_id: 'spa' })
    t.equal(res.json().error, 'invalid_grant')
  })

  t.test('RFC 7009 §2.1: token missing → 400 invalid_request; no client auth → 401 (T57, T60)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const missing = await revoke(app, { token_type_hint: 'access_token' })
    t.equal(missing.statusCode, 400)
    t.same(missing.json(), { error: 'invalid_request', error_description: 'token is required' })
    const noAuth = await revoke(app, { token: 'x' }, {})
    t.equal(noAuth.statusCode, 401)
    t.equal(noAuth.json().error, 'invalid_client')
    const badAuth = await revoke(app, { token: 'x' }, { authorization: basic('web', 'wrong') })
    t.equal(badAuth.statusCode, 401)
    t.equal(badAuth.headers['www-authenticate'], 'Basic realm="portcullis"')
  })

  t.test('RFC 7662 §2.2: an active token → active true with the RFC members (T65)', async (t) => {
    const store = await makeStore(t)
    const { app, config } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const tokens = await passwordTokens(app)
    const res = await introspect(app, tokens.access_token)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    const body = res.json()
    const claims = decodeSegment(tokens.access_token, 1)
    t.same(body, {
      active: true,
      scope: 'read write',
      client_id: 'web',
      token_type: 'Bearer',
      exp: claims.exp,
      iat: claims.iat,
      sub: 'alice',
      aud: config.AUDIENCE,
      iss: config.issuer,
      jti: claims.jti,
      sid: claims.sid
    })
  })

  t.test('RFC 7662 §2.2: revoked, expired, unknown, foreign tokens → exactly {"active":false} (T63, T64)', async (t) => {
    const store = await makeStore(t)
    let now = Date.now()
    const { app } = await buildOAuthApp(t, { store, now: () => now })
    await seedFixture(store)
    await seedClient(store, 'other', { secret: 'other-secret', grants: ['password'], scopes: ['read'] })
    const mine = await passwordTokens(app)
    const theirs = (await post(app, '/oauth/token', { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password }, { authorization: basic('other', 'other-secret') })).json()

    const rows: Array<[string, string]> = [
      ['unknown garbage', 'garbage'],
      ['a JWT from nowhere', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'],
      ["another client's token (foreign)", theirs.access_token],
      ['a refresh token (not introspectable, see introspect.ts)', mine.refresh_token!]
    ]
    for (const [what, token] of rows) {
      const res = await introspect(app, token)
      t.equal(res.statusCode, 200, what)
      t.equal(res.body, '{"active":false}', what)
    }
    await store.revokeUserBefore('alice', Math.floor(now / 1000) + 1)
    t.same((await introspect(app, mine.access_token)).json(), INACTIVE, 'user revoked (cut-off)')
    await store.revokeUserBefore('alice', 0)
    const fresh = await passwordTokens(app)
    now += 931_000
    t.same((await introspect(app, fresh.access_token)).json(), INACTIVE, 'expired')
  })

  t.test('RFC 7662 §2.2: disabled user or client → inactive', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const tokens = await passwordTokens(app)
    const user = await store.getUser('alice')
    await store.putUser({ ...user!, disabled: true })
    t.same((await introspect(app, tokens.access_token)).json(), INACTIVE)
  })

  t.test('RFC 7662 §2.1: unauthenticated or public callers → 401; token missing → 400 (T62)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const tokens = await passwordTokens(app)
    const none = await introspect(app, tokens.access_token, {})
    t.equal(none.statusCode, 401)
    t.same(none.json(), { error: 'invalid_client', error_description: 'Client authentication failed' })
    const pub = await post(app, '/oauth/introspect', { token: tokens.access_token, client_id: 'spa' })
    t.equal(pub.statusCode, 401, 'a public client_id proves nothing: no token scanning')
    const missing = await post(app, '/oauth/introspect', {}, webAuth)
    t.equal(missing.statusCode, 400)
    t.equal(missing.json().error, 'invalid_request')
  })

  t.test('refresh-token revocation lasts as long as the family can live', async (t) => {
    const store = await makeStore(t)
    const { app, config } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const tokens = await passwordTokens(app)
    const record = await store.getRefreshToken(hashRefreshToken(tokens.refresh_token!))
    t.equal(record!.expiresAt - record!.issuedAt, config.REFRESH_TOKEN_TTL)
    await revoke(app, { token: tokens.refresh_token! })
    const { sid, jti, sub } = decodeSegment(tokens.access_token, 1) as Record<string, string>
    t.equal((await store.checkRevocation({ jti: jti!, sid, sub: sub!, clientId: 'web' })).sessionRevoked, true)
  })
})

// RFC 7662 §2.1 introspection for resource servers (issue 9 item 22), and the client cut-off
// (issue 9 item 14): a client disabled and enabled again never gets its older tokens back, at
// introspection and at refresh. Against the memory store and a real redis-server.

const INVALID_GRANT = { error: 'invalid_grant', error_description: 'The grant is invalid, expired or revoked' }
const introspectAs = async (app: App, token: string, id: string, secret: string): Promise<unknown> =>
  (await post(app, '/oauth/introspect', { token }, { authorization: basic(id, secret) })).json()

void onEveryStore(t, async (t, makeStore) => {
  t.test('RFC 7662 §2.1: only a client given --introspect learns about other clients\' tokens (T64)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const rs = await addClient(store, { id: 'orders-api', grants: 'client_credentials', scopes: '', public: false, introspect: true, cost: 4 })
    const plain = await addClient(store, { id: 'billing', grants: 'client_credentials', scopes: '', public: false, cost: 4 })
    const tokens = await passwordTokens(app) // issued to `web`

    t.same(await introspectAs(app, tokens.access_token, 'billing', plain.client_secret!), INACTIVE, 'without the permission: exactly {"active":false}')
    t.match(await introspectAs(app, tokens.access_token, 'orders-api', rs.client_secret!),
      { active: true, client_id: 'web', sub: 'alice', scope: 'read write', token_type: 'Bearer' }, 'with it: the RFC 7662 §2.2 members')
    t.same(await introspectAs(app, tokens.refresh_token!, 'orders-api', rs.client_secret!), INACTIVE, 'refresh tokens stay inactive')
    await post(app, '/oauth/revoke', { token: tokens.access_token }, { authorization: basic('web', FIXTURE.webSecret) })
    t.same(await introspectAs(app, tokens.access_token, 'orders-api', rs.client_secret!), INACTIVE, 'a revoked token is inactive to it too')
    t.equal((await store.getClient('billing'))?.introspect, undefined, 'the permission is never implied')
  })

  t.test('RFC 7662 §2.1: a public client cannot be given --introspect', async (t) => {
    const store = await makeStore(t)
    await t.rejects(addClient(store, { id: 'spa2', grants: 'password', scopes: '', public: true, introspect: true, cost: 4 }), { code: 'invalid_client_type' })
    t.equal(await store.getClient('spa2'), null)
  })

  t.test('clients disable then enable: the client\'s older tokens stay dead at introspection and refresh; newer ones live', async (t) => {
    const store = await makeStore(t)
    let now = Date.now()
    const { app } = await buildOAuthApp(t, { store, now: () => now })
    await seedFixture(store)
    const rs = await addClient(store, { id: 'orders-api', grants: 'client_credentials', scopes: '', public: false, introspect: true, cost: 4 })
    const old = await passwordTokens(app)
    await disableClient(store, 'web', { now: () => now })
    await enableClient(store, 'web')
    t.same(await introspectAs(app, old.access_token, 'web', FIXTURE.webSecret), INACTIVE, 'inactive to its own client')
    t.same(await introspectAs(app, old.access_token, 'orders-api', rs.client_secret!), INACTIVE, 'and to a resource server')
    t.same((await refresh(app, old.refresh_token!)).json(), INVALID_GRANT, 'its refresh token is refused')

    now += 2000 // past the cut-off second
    const fresh = await passwordTokens(app)
    t.match(await introspectAs(app, fresh.access_token, 'web', FIXTURE.webSecret), { active: true }, 'a token issued after the enable is active')
    t.equal((await refresh(app, fresh.refresh_token!)).statusCode, 200, 'and refreshes')
  })
})
