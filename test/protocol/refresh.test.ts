// RFC 6749 §6 + RFC 9700 §4.14.2: refresh with rotation and reuse detection (catalogue T35–T46),
// run against the memory store and a real Redis.
import t from 'tap'
import { disableUser, enableUser, revokeUser } from '../../src/oauth/accounts.js'
import { hashRefreshToken, newRefreshToken } from '../../src/oauth/refresh-tokens.js'
import { basic, buildOAuthApp, decodeSegment, FIXTURE, onEveryStore, passwordTokens, post, refresh, seedClient, seedFixture } from '../helpers/oauth.js'
import { hookedStore } from '../helpers/store-hooks.js'

const INVALID_GRANT = { error: 'invalid_grant', error_description: 'The grant is invalid, expired or revoked' }

async function introspect (app: Parameters<typeof post>[0], token: string): Promise<Record<string, unknown>> {
  return (await post(app, '/oauth/introspect', { token }, { authorization: basic('web', FIXTURE.webSecret) })).json()
}

void onEveryStore(t, async (t, makeStore) => {
  t.test('RFC 9700 §4.14.2: a refresh rotates: new refresh and access token, same session (T35)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const first = await passwordTokens(app)
    const res = await refresh(app, first.refresh_token!)
    t.equal(res.statusCode, 200)
    const next = res.json()
    t.match(next, { token_type: 'Bearer', expires_in: 900, scope: 'read write', refresh_token: /^[A-Za-z0-9_-]{43}$/ })
    t.not(next.refresh_token, first.refresh_token, 'a new refresh token')
    t.not(next.access_token, first.access_token, 'a new access token')
    t.equal(decodeSegment(next.access_token, 1).sid, decodeSegment(first.access_token, 1).sid, 'same sid: same family')
    t.equal(res.headers['cache-control'], 'no-store')
  })

  t.test('RFC 9700 §4.14.2: replaying a rotated refresh token revokes the whole family (T36, T38)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const gen0 = await passwordTokens(app)
    const gen1 = (await refresh(app, gen0.refresh_token!)).json()
    const gen2 = (await refresh(app, gen1.refresh_token)).json()
    t.equal((await introspect(app, gen2.access_token)).active, true, 'live before the replay')

    const replay = await refresh(app, gen0.refresh_token!) // two generations old
    t.equal(replay.statusCode, 400)
    t.same(replay.json(), INVALID_GRANT)
    const current = await refresh(app, gen2.refresh_token)
    t.same(current.json(), INVALID_GRANT, 'the newest refresh token of the family is dead too')

    const claims = decodeSegment(gen2.access_token, 1) as { jti: string, sid: string, sub: string, client_id: string }
    const state = await store.checkRevocation({ jti: claims.jti, sid: claims.sid, sub: claims.sub, clientId: claims.client_id })
    t.equal(state.sessionRevoked, true, "the family's sid is revoked in the store (the edge refuses its access tokens)")
    t.same(await introspect(app, gen2.access_token), { active: false }, 'introspection agrees')
    t.same(await introspect(app, gen0.access_token), { active: false }, 'older access tokens of the family too')
    const other = await passwordTokens(app)
    t.equal((await introspect(app, other.access_token)).active, true, 'another session of the same user is untouched')
  })

  t.test('RFC 9700 §4.14.2: two concurrent refreshes with one token never make two live chains (T37)', async (t) => {
    const store = await makeStore(t)
    // strict reuse detection; with the REFRESH_GRACE window both get the same successor (refresh-grace.test.ts)
    const { app } = await buildOAuthApp(t, { store, env: { REFRESH_GRACE: '0' } })
    await seedFixture(store)
    const first = await passwordTokens(app)
    const results = await Promise.all([refresh(app, first.refresh_token!), refresh(app, first.refresh_token!)])
    const ok = results.filter((r) => r.statusCode === 200)
    t.equal(ok.length, 1, 'exactly one succeeds')
    t.same(results.find((r) => r.statusCode !== 200)?.json(), INVALID_GRANT)
    const survivor = ok[0]!.json()
    t.same((await refresh(app, survivor.refresh_token)).json(), INVALID_GRANT, 'the replay revoked the family, winner included')
  })

  t.test('RFC 6749 §6: narrowing is allowed, the family keeps its original scope (T39)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const first = await passwordTokens(app)
    const narrow = await refresh(app, first.refresh_token!, { scope: 'read' })
    t.equal(narrow.statusCode, 200)
    t.equal(narrow.json().scope, 'read')
    t.equal(decodeSegment(narrow.json().access_token, 1).scope, 'read')
    const again = await refresh(app, narrow.json().refresh_token)
    t.equal(again.json().scope, 'read write', 'the next refresh without scope gets the original scope back')
  })

  t.test('RFC 6749 §6: widening → invalid_scope, and the refresh token is not burned (T40)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const first = await passwordTokens(app, { scope: 'read' })
    const wide = await refresh(app, first.refresh_token!, { scope: 'read write' })
    t.equal(wide.statusCode, 400)
    t.same(wide.json(), { error: 'invalid_scope', error_description: 'The requested scope is invalid or exceeds what is allowed' })
    t.equal((await refresh(app, first.refresh_token!)).statusCode, 200, 'still usable afterwards')
  })

  t.test('RFC 6749 §10.4: a refresh token is bound to its client (T41, T42)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    await seedClient(store, 'other', { secret: 'other-secret', grants: ['refresh_token'], scopes: ['read', 'write'] })
    const first = await passwordTokens(app)
    const stolen = await refresh(app, first.refresh_token!, {}, ['other', 'other-secret'])
    t.equal(stolen.statusCode, 400)
    t.same(stolen.json(), INVALID_GRANT)
    const unauthenticated = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: 'web' })
    t.equal(unauthenticated.statusCode, 401, 'a confidential client must authenticate to refresh (T42)')
    t.equal(unauthenticated.json().error, 'invalid_client')
    t.equal((await refresh(app, first.refresh_token!)).statusCode, 200, 'the owner can still use it: not burned by the thief')
  })

  t.test('RFC 6749 §6: a public client refreshes with client_id only', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const login = await post(app, '/oauth/token', { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password, client_id: 'spa' })
    const res = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: login.json().refresh_token, client_id: 'spa' })
    t.equal(res.statusCode, 200)
    t.equal(res.json().scope, 'read')
  })

  t.test('RFC 6749 §5.2 invalid_grant: access token, garbage, unknown or missing refresh token (T43)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const first = await passwordTokens(app)
    for (const [what, token] of [['an access token', first.access_token], ['garbage', 'x'], ['an unknown token', newRefreshToken()]] as const) {
      const res = await refresh(app, token)
      t.equal(res.statusCode, 400, what)
      t.same(res.json(), INVALID_GRANT, what)
    }
    const missing = await post(app, '/oauth/token', { grant_type: 'refresh_token' }, { authorization: basic('web', FIXTURE.webSecret) })
    t.same(missing.json(), { error: 'invalid_request', error_description: 'refresh_token is required' })
  })

  t.test('RFC 9700 §4.14.2: an expired refresh token → invalid_grant; sessions do not slide (T44)', async (t) => {
    const store = await makeStore(t)
    let now = Date.now()
    const { app } = await buildOAuthApp(t, { store, now: () => now, env: { REFRESH_TOKEN_TTL: '3600' } })
    await seedFixture(store)
    const first = await passwordTokens(app)
    now += 1800_000
    const mid = await refresh(app, first.refresh_token!)
    t.equal(mid.statusCode, 200, 'inside the session lifetime')
    now += 1801_000 // 3601 s after login: the rotated token expires with its family
    const late = await refresh(app, mid.json().refresh_token)
    t.equal(late.statusCode, 400)
    t.same(late.json(), INVALID_GRANT)
  })

  t.test('RFC 9700 §4.14.2: after users revoke, refresh tokens issued before → invalid_grant (T45)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const a = await passwordTokens(app)
    await revokeUser(store, 'alice')
    t.same((await refresh(app, a.refresh_token!)).json(), INVALID_GRANT, 'users revoke')
  })

  // The disabled flag must hold on its own: `users disable` also writes a cut-off, but from the
  // operator machine's clock, which may lag the gateway's. Every disable here goes through the real
  // accounts path with a clock one minute behind, so the cut-off falls before the tokens were
  // issued and only the two disabled-user checks of the refresh grant can refuse them: the
  // revocation state read (assertSessionAlive) and the user record read. The operator acting between
  // those two reads tells them apart; the last refresh is the control.
  t.test('RFC 6749 §5.2: a disabled user\'s refresh token → invalid_grant from the disabled flag alone (T25, T45)', async (t) => {
    const inner = await makeStore(t)
    const { store, hooks } = hookedStore(inner)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(inner)
    const [a, b, c, d] = [await passwordTokens(app), await passwordTokens(app), await passwordTokens(app), await passwordTokens(app)]
    const lagging = { now: () => Date.now() - 60_000 }
    await disableUser(inner, 'alice', lagging)

    const issuedAt = (await inner.getRefreshToken(hashRefreshToken(a.refresh_token!)))!.issuedAt
    const state = await inner.checkRevocation({ jti: 'x', sub: 'alice', clientId: 'web' })
    t.equal(state.userDisabled, true, 'the user is disabled in the store')
    t.ok(state.userRevokedBefore !== null && state.userRevokedBefore <= issuedAt, 'the lagging cut-off does not cover the tokens')

    t.same((await refresh(app, a.refresh_token!)).json(), INVALID_GRANT, 'disabled: refused')
    hooks.onceAfter('checkRevocation', async () => await enableUser(inner, 'alice'))
    t.same((await refresh(app, b.refresh_token!)).json(), INVALID_GRANT, 'enabled right after the revocation read: that read saw the user disabled')
    hooks.onceAfter('checkRevocation', async () => await disableUser(inner, 'alice', lagging))
    t.same((await refresh(app, c.refresh_token!)).json(), INVALID_GRANT, 'disabled right after the revocation read: the user record read sees it')
    await enableUser(inner, 'alice')
    t.equal((await refresh(app, d.refresh_token!)).statusCode, 200, 'control: enabled again, nothing else refuses these tokens')
  })

  t.test('RFC 6749 §10.10: refresh tokens are 256-bit random and stored only as a hash (T46)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const { refresh_token: rt } = await passwordTokens(app)
    t.equal(Buffer.from(rt!, 'base64url').length, 32)
    t.equal(await store.getRefreshToken(rt!), null, 'not stored under the token itself')
    t.match(await store.getRefreshToken(hashRefreshToken(rt!)), { sub: 'alice', clientId: 'web', scope: ['read', 'write'] })
  })
})

t.test('RFC 6749 §10.10: 10 000 refresh tokens: all distinct, bits balanced (T46)', async (t) => {
  const seen = new Set<string>()
  let ones = 0
  for (let i = 0; i < 10_000; i++) {
    const token = newRefreshToken()
    seen.add(token)
    for (const byte of Buffer.from(token, 'base64url')) ones += popcount(byte)
  }
  t.equal(seen.size, 10_000)
  const ratio = ones / (10_000 * 256)
  t.ok(Math.abs(ratio - 0.5) < 0.005, `share of one bits ${ratio.toFixed(4)}`)
})

function popcount (b: number): number {
  let n = 0
  for (let x = b; x > 0; x >>= 1) n += x & 1
  return n
}
