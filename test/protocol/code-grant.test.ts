// RFC 6749 §4.1.3 + RFC 7636 §4.5-4.6: the authorization_code grant at the token endpoint, over raw
// HTTP (inject): a code is single use, lives ≤ 60 s, is bound to its client, redirect URI and PKCE
// challenge, and a replay revokes every token issued from it (SECURITY.md W01).
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { buildOAuthApp, decodeSegment, post, seedUser, basic } from '../helpers/oauth.js'
import { Jar, loginThrough } from '../helpers/login-form.js'
import { hashSecret } from '../../src/oauth/passwords.js'
import { MemoryStore } from '../../src/store/index.js'

const REDIRECT = 'com.example.app:/oauth/callback'
const verifier = (): string => randomBytes(32).toString('base64url')
const challengeOf = (v: string): string => createHash('sha256').update(v).digest('base64url')

async function setup (t: Parameters<typeof buildOAuthApp>[0]) {
  let now = Date.now()
  // one injected clock for the grant and the store: advancing it expires codes in the store too
  const store = new MemoryStore({ now: () => now })
  t.teardown(async () => { await store.close() })
  const built = await buildOAuthApp(t, { now: () => now, store })
  await seedUser(built.store, 'alice', 'alice-password', ['read', 'write'])
  await built.store.putClient({ id: 'mobile', secretHash: null, grants: ['authorization_code', 'refresh_token'], scopes: ['read', 'write'], redirectUris: [REDIRECT, 'http://127.0.0.1/cb'], disabled: false, createdAt: 0 })
  await built.store.putClient({ id: 'other', secretHash: null, grants: ['authorization_code'], scopes: ['read'], redirectUris: [REDIRECT], disabled: false, createdAt: 0 })
  // `introspect`: a resource server too (RFC 7662), to ask whether the mobile client's tokens are active
  await built.store.putClient({ id: 'web', secretHash: await hashSecret('web-secret', 4), grants: ['authorization_code'], scopes: ['read'], redirectUris: ['https://web.example/cb'], disabled: false, createdAt: 0, introspect: true })
  /** Logs in through the page and returns a fresh code for `client`. */
  async function code (opts: { client?: string, redirect?: string, challenge?: string | null, scope?: string } = {}): Promise<string> {
    const q = new URLSearchParams({ response_type: 'code', client_id: opts.client ?? 'mobile', redirect_uri: opts.redirect ?? REDIRECT, state: 's', scope: opts.scope ?? 'read' })
    if (opts.challenge !== null) { q.set('code_challenge', opts.challenge ?? challengeOf(v)); q.set('code_challenge_method', 'S256') }
    const res = await loginThrough(built.app, `/oauth/authorize?${q.toString()}`, new Jar(), 'alice', 'alice-password')
    if (res.statusCode !== 303) throw new Error(`login: ${res.statusCode} ${res.body.slice(0, 300)}`)
    return new URL(res.headers.location as string).searchParams.get('code')!
  }
  const v = verifier()
  const exchange = async (c: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    await post(built.app, '/oauth/token', { grant_type: 'authorization_code', client_id: 'mobile', code: c, redirect_uri: REDIRECT, code_verifier: v, ...extra }, headers)
  return { ...built, code, exchange, v, advance: (ms: number) => { now += ms } }
}

t.test('RFC 6749 §4.1.3: a code gives the RFC 9068 access token and a rotating refresh token of one session', async (t) => {
  const { code, exchange, app } = await setup(t)
  const res = await exchange(await code())
  t.equal(res.statusCode, 200, res.body)
  const body = res.json()
  t.match(body, { token_type: 'Bearer', scope: 'read', expires_in: 900, refresh_token: /^[A-Za-z0-9_-]{43}$/ })
  t.equal(res.headers['cache-control'], 'no-store')
  const claims = decodeSegment(body.access_token, 1)
  t.match(claims, { sub: 'alice', client_id: 'mobile', scope: 'read', sid: String })
  const refreshed = await post(app, '/oauth/token', { grant_type: 'refresh_token', client_id: 'mobile', refresh_token: body.refresh_token })
  t.equal(refreshed.statusCode, 200, 'the refresh token rotates like any other')
  t.equal(decodeSegment(refreshed.json().access_token, 1).sid, claims.sid, 'same session')
})

t.test('W01 / RFC 6749 §4.1.2: a code used twice is refused and revokes every token issued from it', async (t) => {
  const { code, exchange, store, app } = await setup(t)
  const c = await code()
  const first = (await exchange(c)).json()
  const sid = decodeSegment(first.access_token, 1).sid as string
  const replay = await exchange(c)
  t.equal(replay.statusCode, 400)
  t.same(replay.json(), { error: 'invalid_grant', error_description: 'The grant is invalid, expired or revoked' })
  t.equal((await store.checkRevocation({ jti: 'x', sid, sub: 'alice', clientId: 'mobile' })).sessionRevoked, true, 'the access token (its sid) is revoked')
  const refresh = await post(app, '/oauth/token', { grant_type: 'refresh_token', client_id: 'mobile', refresh_token: first.refresh_token })
  t.equal(refresh.json().error, 'invalid_grant', 'the refresh token of that session is refused')
  const concurrent = await code()
  const both = await Promise.all([exchange(concurrent), exchange(concurrent)])
  t.same(both.map((r) => r.statusCode).sort(), [200, 400], 'two redemptions at once: exactly one wins')
})

t.test('W01 / RFC 6749 §4.1.2: a code replayed after its 60 s still revokes every token issued from it', async (t) => {
  const { code, exchange, advance, app } = await setup(t)
  const c = await code()
  const first = (await exchange(c)).json()
  const active = async (): Promise<unknown> => (await post(app, '/oauth/introspect', { token: first.access_token }, { authorization: basic('web', 'web-secret') })).json().active
  advance(61_000)
  t.equal(await active(), true, 'the access token is active 61 s later')
  const replay = await exchange(c)
  t.equal(replay.statusCode, 400)
  t.same(replay.json(), { error: 'invalid_grant', error_description: 'The grant is invalid, expired or revoked' })
  t.equal(await active(), false, 'the access token is refused after the replay')
  const refresh = await post(app, '/oauth/token', { grant_type: 'refresh_token', client_id: 'mobile', refresh_token: first.refresh_token })
  t.equal(refresh.json().error, 'invalid_grant', 'and so is the refresh token of that session')
})

const refusals: Array<{ proves: string, code?: { client?: string, redirect?: string, challenge?: string | null }, send: (c: string, v: string) => Record<string, string>, burns: boolean }> = [
  { proves: 'W01 / RFC 7636 §4.6: a wrong code_verifier is invalid_grant and does not burn the code', send: () => ({ code_verifier: verifier() }), burns: false },
  { proves: 'W01 / RFC 7636 §4.5: a missing code_verifier is invalid_grant', send: () => ({ code_verifier: '' }), burns: false },
  { proves: 'W01 / RFC 6749 §4.1.3: a redirect_uri other than the authorization request\'s is invalid_grant', send: () => ({ redirect_uri: 'http://127.0.0.1/cb' }), burns: false },
  { proves: 'W01 / RFC 6749 §4.1.3: a code of another client is invalid_grant (code injection)', code: { client: 'other' }, send: () => ({}), burns: false },
  { proves: 'W01: a made-up code is invalid_grant', send: () => ({ code: randomBytes(32).toString('base64url') }), burns: false }
]
for (const row of refusals) {
  t.test(row.proves, async (t) => {
    const { code, exchange, v } = await setup(t)
    const c = await code(row.code)
    const res = await exchange(c, row.send(c, v))
    t.equal(res.statusCode, 400)
    t.same(res.json(), { error: 'invalid_grant', error_description: 'The grant is invalid, expired or revoked' })
    if (row.code === undefined) t.equal((await exchange(c)).statusCode, 200, 'the code still works for its rightful holder')
  })
}

t.test('RFC 9700 §2.1.1: a verifier for a code issued without a challenge is refused (PKCE downgrade); confidential clients authenticate', async (t) => {
  const { code, app } = await setup(t)
  const c = await code({ client: 'web', redirect: 'https://web.example/cb', challenge: null })
  const send = async (extra: Record<string, string>, auth = basic('web', 'web-secret')) =>
    await post(app, '/oauth/token', { grant_type: 'authorization_code', code: c, redirect_uri: 'https://web.example/cb', ...extra }, { authorization: auth })
  t.equal((await send({ code_verifier: verifier() })).json().error, 'invalid_grant')
  t.equal((await send({}, basic('web', 'wrong'))).statusCode, 401, 'a wrong secret is invalid_client')
  const ok = await send({})
  t.equal(ok.statusCode, 200, ok.body)
  t.equal(ok.json().refresh_token, undefined, 'no refresh_token grant, no refresh token')
})

t.test('RFC 6749 §4.1.2: a code expires after 60 s', async (t) => {
  const { code, exchange, advance } = await setup(t)
  const c = await code()
  advance(60_000)
  t.equal((await exchange(c)).json().error, 'invalid_grant')
})

t.test('a user disabled after the code was issued: invalid_grant', async (t) => {
  const { code, exchange, store } = await setup(t)
  const c = await code()
  await store.updateUser('alice', (u) => ({ ...u, disabled: true }))
  t.equal((await exchange(c)).json().error, 'invalid_grant')
})
