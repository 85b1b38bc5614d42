// RFC 6749 §3.2, §5.1, §5.2: the shape of requests to and responses from /oauth/token (catalogue T01–T11, T49–T52).
import t from 'tap'
import fc from 'fast-check'
import { basic, buildOAuthApp, FIXTURE, post, seedFixture } from '../helpers/oauth.js'

const ERROR_BODY_KEYS = ['error', 'error_description']
const pw = { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password }
const webAuth = { authorization: basic('web', FIXTURE.webSecret) }

t.test('RFC 6749 §3.2: only POST; other methods 405 with Allow, never a token (T01)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  for (const url of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const) {
      const res = await app.inject({ method, url: `${url}?grant_type=client_credentials`, headers: { ...webAuth, 'content-type': 'application/x-www-form-urlencoded' }, payload: method === 'GET' || method === 'HEAD' ? undefined : 'grant_type=password' })
      t.equal(res.statusCode, 405, `${method} ${url}`)
      t.equal(res.headers.allow, 'POST')
      if (method !== 'HEAD') t.same(res.json(), { error: 'method_not_allowed', error_description: 'Method not allowed on this path' })
    }
  }
  for (const url of ['/.well-known/jwks.json', '/.well-known/oauth-authorization-server']) {
    const res = await app.inject({ method: 'POST', url, payload: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    t.equal(res.statusCode, 405)
    t.equal(res.headers.allow, 'GET, HEAD')
  }
})

t.test('RFC 6749 §4.3.2: bodies other than x-www-form-urlencoded → 400 invalid_request (T02)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const cases: Array<[string, Record<string, string>, string | undefined]> = [
    ['JSON', { 'content-type': 'application/json' }, JSON.stringify(pw)],
    ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }, '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npassword\r\n--x--'],
    ['text/plain', { 'content-type': 'text/plain' }, 'grant_type=password'],
    ['no content type', {}, 'grant_type=password'],
    ['no body at all', {}, undefined]
  ]
  for (const [what, headers, payload] of cases) {
    const res = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...webAuth, ...headers }, payload })
    t.equal(res.statusCode, 400, what)
    t.equal(res.json().error, 'invalid_request', what)
    t.equal(res.headers['cache-control'], 'no-store', `${what}: no-store on errors too (T50)`)
  }
  const charset = await post(app, '/oauth/token', pw, { ...webAuth, 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' })
  t.equal(charset.statusCode, 200, 'a charset parameter is fine')
})

t.test('RFC 6749 §2.3.1: credentials in the query string → 400 invalid_request (T03)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  for (const q of ['client_secret=x', 'password=x', 'refresh_token=x', 'token=x']) {
    const res = await post(app, `/oauth/token?${q}`, pw, webAuth)
    t.equal(res.statusCode, 400, q)
    t.same(res.json(), { error: 'invalid_request', error_description: 'Credentials must not be sent in the query string' })
  }
  t.equal((await post(app, '/oauth/token?trace=1', pw, webAuth)).statusCode, 200, 'an unrelated query parameter is fine')
})

t.test('RFC 6749 §3.2: repeated parameter → 400 invalid_request; empty = omitted; unknown ignored (T04–T06)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  for (const body of ['grant_type=password&grant_type=password', `grant_type=password&username=alice&password=x&scope=read&scope=write`]) {
    const res = await post(app, '/oauth/token', body, webAuth)
    t.equal(res.statusCode, 400)
    t.equal(res.json().error, 'invalid_request')
  }
  const empty = await post(app, '/oauth/token', { ...pw, scope: '' }, webAuth)
  t.equal(empty.statusCode, 200, 'scope= is treated as omitted')
  t.equal(empty.json().scope, 'read write', 'omitted scope → everything allowed')
  const emptyGrant = await post(app, '/oauth/token', { ...pw, grant_type: '' }, webAuth)
  t.same(emptyGrant.json(), { error: 'invalid_request', error_description: 'grant_type is required' }, 'grant_type= is missing')
  const unknown = await post(app, '/oauth/token', { ...pw, foo: 'bar', nonce: 'x' }, webAuth)
  t.equal(unknown.statusCode, 200, 'unknown parameters are ignored')
})

t.test('RFC 6749 §5.2: grant_type missing → invalid_request; unknown or wrong case → unsupported_grant_type (T07, T08)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const missing = await post(app, '/oauth/token', { username: 'alice' }, webAuth)
  t.equal(missing.statusCode, 400)
  t.same(missing.json(), { error: 'invalid_request', error_description: 'grant_type is required' })
  for (const g of ['implicit', 'token', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'PASSWORD', 'Password', 'client_credentials ']) {
    const res = await post(app, '/oauth/token', { ...pw, grant_type: g }, webAuth)
    t.equal(res.statusCode, 400, g)
    t.same(res.json(), { error: 'unsupported_grant_type', error_description: 'Unsupported grant type' }, g)
  }
})

t.test('RFC 6749 §5.2: a grant the client may not use → unauthorized_client (T09)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const res = await post(app, '/oauth/token', { grant_type: 'client_credentials' }, webAuth)
  t.equal(res.statusCode, 400)
  t.same(res.json(), { error: 'unauthorized_client', error_description: 'The client may not use this grant type' })
  const svc = await post(app, '/oauth/token', pw, { authorization: basic('svc', FIXTURE.svcSecret) })
  t.equal(svc.json().error, 'unauthorized_client', 'svc has no password grant')
})

t.test('body over 8 KiB → 413 JSON; a 1 MB password never reaches bcrypt (T10, T28)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const started = performance.now()
  const res = await post(app, '/oauth/token', { ...pw, password: 'x'.repeat(1024 * 1024) }, webAuth)
  t.equal(res.statusCode, 413)
  t.same(res.json(), { error: 'payload_too_large', error_description: 'Request body too large' })
  t.equal(res.headers['cache-control'], 'no-store')
  t.ok(performance.now() - started < 1000, 'refused quickly')
})

t.test('RFC 6749 §5.1: success carries no-store, Pragma, JSON, Bearer; body members exactly (T49, T52)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const res = await post(app, '/oauth/token', pw, webAuth)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers.pragma, 'no-cache')
  t.match(res.headers['content-type'], /^application\/json/)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 900)
})

t.test('RFC 6749 §5.2: error bodies are exactly error + error_description, with no-store (T50, T51)', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  const requests = [
    post(app, '/oauth/token', { grant_type: 'password' }, webAuth),
    post(app, '/oauth/token', { ...pw, password: 'wrong' }, webAuth),
    post(app, '/oauth/token', pw, { authorization: basic('web', 'wrong') }),
    post(app, '/oauth/token', { ...pw, scope: 'admin' }, webAuth),
    post(app, '/oauth/token', { ...pw, grant_type: 'x' }, webAuth)
  ]
  for (const res of await Promise.all(requests)) {
    t.same(Object.keys(res.json()).sort(), ERROR_BODY_KEYS, `${res.statusCode} ${res.json().error}`)
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal(res.headers.pragma, 'no-cache')
    t.match(res.json().error_description, /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/, 'RFC 6749 §5.2 restricted ASCII')
  }
})

t.test('garbage input never yields a 5xx (property)', async (t) => {
  const { app, store } = await buildOAuthApp(t, { env: { TOKEN_RATE_LIMIT: '100000' } })
  await seedFixture(store)
  const statuses = new Set<number>()
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('/oauth/token', '/oauth/revoke', '/oauth/introspect'),
    fc.oneof(fc.string(), fc.dictionary(fc.constantFrom('grant_type', 'username', 'password', 'client_id', 'client_secret', 'refresh_token', 'scope', 'token', 'token_type_hint'), fc.string()).map((d) => new URLSearchParams(d).toString())),
    fc.option(fc.oneof(fc.string(), fc.constant('Basic'), fc.base64String().map((b) => `Basic ${b}`), fc.string().map((s) => `basic ${Buffer.from(s).toString('base64')}`)), { nil: undefined }),
    async (url, payload, authorization) => {
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
      if (authorization !== undefined && /^[\x20-\x7e]*$/.test(authorization)) headers.authorization = authorization
      const res = await app.inject({ method: 'POST', url, headers, payload })
      statuses.add(res.statusCode)
      return res.statusCode < 500
    }
  ), { numRuns: 400 })
  t.notOk([...statuses].some((s) => s >= 500), `statuses seen: ${[...statuses].sort().join(' ')}`)
})
