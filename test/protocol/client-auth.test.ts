// RFC 6749 §2.3 and §5.2: client authentication at the token endpoint (catalogue T12–T19).
import t from 'tap'
import { basic, buildOAuthApp, FIXTURE, post, seedClient, seedFixture } from '../helpers/oauth.js'

const cc = { grant_type: 'client_credentials' }
const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Client authentication failed' }
const CHALLENGE = 'Basic realm="portcullis"'

t.test('RFC 6749 §2.3.1: client_secret_basic and client_secret_post both work (T12)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const viaBasic = await post(app, '/oauth/token', cc, { authorization: basic('svc', FIXTURE.svcSecret) })
  t.equal(viaBasic.statusCode, 200)
  const viaPost = await post(app, '/oauth/token', { ...cc, client_id: 'svc', client_secret: FIXTURE.svcSecret })
  t.equal(viaPost.statusCode, 200)
  const lower = await post(app, '/oauth/token', cc, { authorization: basic('svc', FIXTURE.svcSecret).replace('Basic', 'basic') })
  t.equal(lower.statusCode, 200, 'RFC 9110 §11.1: scheme is case-insensitive')
  const sameId = await post(app, '/oauth/token', { ...cc, client_id: 'svc' }, { authorization: basic('svc', FIXTURE.svcSecret) })
  t.equal(sameId.statusCode, 200, 'Basic plus the same client_id in the body is one method')
})

t.test('RFC 6749 §2.3.1 / Appendix B: a secret with : % + and space, form-urlencoded inside Basic (T16)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const res = await post(app, '/oauth/token', { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password }, { authorization: basic('web', FIXTURE.webSecret) })
  t.equal(res.statusCode, 200)
})

t.test('RFC 6749 §5.2 invalid_client with Basic → 401 + WWW-Authenticate (T13, T17, T18)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const b64 = (s: string): string => Buffer.from(s).toString('base64')
  const rows: Array<[string, string]> = [
    ['wrong secret (T13)', basic('svc', 'wrong')],
    ['unknown client id, identical answer (T18)', basic('nobody', 'wrong')],
    ['no colon (T17)', `Basic ${b64('svc')}`],
    ['bad base64 (T17)', 'Basic %%%not-base64'],
    ['empty user (T17)', `Basic ${b64(':secret')}`],
    ['empty secret', `Basic ${b64('svc:')}`],
    ['broken percent escape', `Basic ${b64('svc:%E0%A4%A')}`],
    ['scheme only', 'Basic'],
    ['another scheme', 'Bearer abc'],
    ['an id outside the client-id alphabet', basic('svc\u0000', FIXTURE.svcSecret)]
  ]
  for (const [what, authorization] of rows) {
    const res = await post(app, '/oauth/token', cc, { authorization })
    t.equal(res.statusCode, 401, what)
    t.equal(res.headers['www-authenticate'], CHALLENGE, what)
    t.same(res.json(), INVALID_CLIENT, what)
    t.equal(res.headers['cache-control'], 'no-store', what)
  }
})

t.test('RFC 6749 §5.2 invalid_client with body credentials → 401 without a challenge (T14, T18)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const wrong = await post(app, '/oauth/token', { ...cc, client_id: 'svc', client_secret: 'wrong' })
  const unknown = await post(app, '/oauth/token', { ...cc, client_id: 'nobody', client_secret: 'wrong' })
  for (const res of [wrong, unknown]) {
    t.equal(res.statusCode, 401)
    t.same(res.json(), INVALID_CLIENT)
    t.equal(res.headers['www-authenticate'], undefined)
  }
  t.equal(wrong.body, unknown.body, 'unknown client and wrong secret: byte-identical bodies')
})

t.test('RFC 6749 §2.3: Basic and client_secret in the body at once → 400 invalid_request (T15)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const both = await post(app, '/oauth/token', { ...cc, client_id: 'svc', client_secret: FIXTURE.svcSecret }, { authorization: basic('svc', FIXTURE.svcSecret) })
  t.equal(both.statusCode, 400)
  t.same(both.json(), { error: 'invalid_request', error_description: 'Use one client authentication method per request' })
  const otherId = await post(app, '/oauth/token', { ...cc, client_id: 'web' }, { authorization: basic('svc', FIXTURE.svcSecret) })
  t.equal(otherId.statusCode, 400, 'a different client_id in the body')
  t.equal(otherId.json().error, 'invalid_request')
})

t.test('RFC 6749 §2.1: public clients send client_id only; a public client sending a secret is refused', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const pw = { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password }
  const ok = await post(app, '/oauth/token', { ...pw, client_id: 'spa' })
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().scope, 'read', 'scope bounded by the public client')
  const withSecret = await post(app, '/oauth/token', { ...pw, client_id: 'spa', client_secret: 'anything' })
  t.equal(withSecret.statusCode, 401)
  t.same(withSecret.json(), INVALID_CLIENT)
  const confidentialWithoutSecret = await post(app, '/oauth/token', { ...pw, client_id: 'web' })
  t.equal(confidentialWithoutSecret.statusCode, 401, 'a confidential client must authenticate')
  t.same(confidentialWithoutSecret.json(), INVALID_CLIENT)
  const nothing = await post(app, '/oauth/token', pw)
  t.equal(nothing.statusCode, 401, 'no client at all')
  t.equal(nothing.headers['www-authenticate'], CHALLENGE, 'no credentials: the challenge says how')
})

t.test('RFC 6749 §4.4: a public client cannot use client_credentials (T19)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedClient(store, 'pub', { grants: ['client_credentials'], scopes: ['read'] })
  const res = await post(app, '/oauth/token', { ...cc, client_id: 'pub' })
  t.equal(res.statusCode, 400)
  t.same(res.json(), { error: 'unauthorized_client', error_description: 'Public clients cannot use client_credentials' })
})

t.test('a disabled client is invalid_client, with the right secret too', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedClient(store, 'off', { secret: 's3cret', grants: ['client_credentials'], scopes: ['read'], disabled: true })
  const res = await post(app, '/oauth/token', cc, { authorization: basic('off', 's3cret') })
  t.equal(res.statusCode, 401)
  t.same(res.json(), INVALID_CLIENT)
})
