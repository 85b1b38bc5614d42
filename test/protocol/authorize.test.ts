// RFC 6749 §4.1.1-4.1.2 and the hosted login page over raw HTTP (inject): which errors are shown and
// which redirected (§4.1.2.1), PKCE S256 only (RFC 7636, RFC 9700 §2.1.1), CSRF, the login throttle,
// cookies, headers, escaping, SSO, prompt=login, consent and logout. SECURITY.md W01-W05.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { buildOAuthApp, seedUser } from '../helpers/oauth.js'
import { formFields, get, Jar, loginThrough, postForm } from '../helpers/login-form.js'

const REDIRECT = 'http://127.0.0.1/cb'
const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url')

// the route map's `scopes` section as the consent page gets it; markup in a description is shown as text
const DESCRIPTIONS = new Map([['read', 'Read your <b>orders</b> & "profile"']])

async function setup (t: Parameters<typeof buildOAuthApp>[0], env: Record<string, string> = {}) {
  const built = await buildOAuthApp(t, { trustProxy: true, env: { LOGIN_MAX_FAILURES: '3', ...env }, scopeDescriptions: DESCRIPTIONS })
  await seedUser(built.store, 'alice', 'alice-password', ['read', 'write'])
  const client = { secretHash: null, grants: ['authorization_code'], scopes: ['read', 'write'], disabled: false, createdAt: 0 }
  await built.store.putClient({ id: 'mobile', ...client, redirectUris: [REDIRECT, 'com.example.app:/cb'] })
  await built.store.putClient({ id: 'third', ...client, redirectUris: [REDIRECT], consent: true })
  await built.store.putClient({ id: 'pw-only', ...client, grants: ['password'], redirectUris: [REDIRECT] })
  return built
}

const url = (params: Record<string, string>, drop: string[] = []): string => {
  const q = new URLSearchParams({ response_type: 'code', client_id: 'mobile', redirect_uri: REDIRECT, state: 'xyz', code_challenge: challenge, code_challenge_method: 'S256', ...params })
  for (const d of drop) q.delete(d)
  return `/oauth/authorize?${q.toString()}`
}

t.test('W03 / RFC 6749 §4.1.2.1: a bad client_id or redirect_uri is shown, never redirected', async (t) => {
  const { app } = await setup(t)
  const rows: Array<[string, string, string]> = [
    ['an unknown client_id (markup in it is escaped, W05)', url({ client_id: '<script>alert(1)</script>' }), 'Unknown or disabled client'],
    ['no redirect_uri', url({}, ['redirect_uri']), 'The redirect_uri is missing or not registered for this client'],
    ['an unregistered redirect_uri', url({ redirect_uri: 'https://evil.example/cb' }), 'The redirect_uri is missing or not registered for this client'],
    ['another path on the loopback host', url({ redirect_uri: 'http://127.0.0.1:5000/other' }), 'The redirect_uri is missing or not registered for this client'],
    ['localhost instead of the loopback literal (RFC 8252 §8.3)', url({ redirect_uri: 'http://localhost:5000/cb' }), 'The redirect_uri is missing or not registered for this client'],
    ['a registered URI with something appended', url({ redirect_uri: 'com.example.app:/cb/../x' }), 'The redirect_uri is missing or not registered for this client']
  ]
  for (const [what, target, message] of rows) {
    const html = await get(app, target, new Jar())
    t.equal(html.statusCode, 400, what)
    t.equal(html.headers.location, undefined, `${what}: no redirect`)
    t.match(html.headers['content-type'], /^text\/html/, what)
    t.ok(html.body.includes(message), what)
    t.notOk(html.body.includes('<script>alert'), `${what}: nothing reflected unescaped`)
    const api = await app.inject({ method: 'GET', url: target })
    t.equal(api.statusCode, 400, `${what}: JSON for a non-browser`)
    t.equal(api.json().error, 'invalid_request', what)
  }
  const escaped = await get(app, url({ client_id: '<script>alert(1)</script>' }), new Jar())
  t.ok(escaped.body.includes('Client: &lt;script&gt;alert(1)&lt;/script&gt;'), 'the client id is shown escaped')
})

t.test('RFC 8252 §7.3: a loopback redirect URI matches on any port; the response goes to the port asked for', async (t) => {
  const { app } = await setup(t)
  const page = await get(app, url({ redirect_uri: 'http://127.0.0.1:49152/cb' }), new Jar())
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-security-policy'], /form-action 'self' http:\/\/127\.0\.0\.1:49152;/, 'form-action allows the answer\'s redirect')
})

t.test('RFC 6749 §4.1.2.1: other errors go to the redirect URI with error, state and iss (RFC 9207)', async (t) => {
  const { app } = await setup(t)
  const rows: Array<[string, string, string, string]> = [
    ['response_type=token', url({ response_type: 'token' }), 'unsupported_response_type', REDIRECT],
    ['W01: plain PKCE is refused', url({ code_challenge_method: 'plain' }), 'invalid_request', REDIRECT],
    ['W01: a challenge without its method defaults to plain: refused', url({}, ['code_challenge_method']), 'invalid_request', REDIRECT],
    ['W01 / RFC 8252 §8.1: a public client without PKCE', url({}, ['code_challenge', 'code_challenge_method']), 'invalid_request', REDIRECT],
    ['a malformed challenge', url({ code_challenge: 'short' }), 'invalid_request', REDIRECT],
    ['a scope the client may not have', url({ scope: 'admin' }), 'invalid_scope', REDIRECT],
    ['a client without the authorization_code grant', url({ client_id: 'pw-only' }), 'unauthorized_client', REDIRECT],
    ['prompt=none is not supported', url({ prompt: 'none' }), 'invalid_request', REDIRECT],
    ['the private-use scheme keeps its own form', url({ response_type: 'token', redirect_uri: 'com.example.app:/cb' }), 'unsupported_response_type', 'com.example.app:/cb']
  ]
  for (const [what, target, error, base] of rows) {
    const res = await get(app, target, new Jar())
    t.equal(res.statusCode, 302, what)
    const location = res.headers.location as string
    t.ok(location.startsWith(`${base}?`), `${what}: ${location}`)
    const q = new URL(location).searchParams
    t.equal(q.get('error'), error, what)
    t.equal(q.get('state'), 'xyz', `${what}: state unchanged`)
    t.equal(q.get('iss'), 'https://as.example', `${what}: iss`)
  }
})

t.test('W04 / W05: the login page: strict CSP without script, no framing, no caching; reflected values escaped', async (t) => {
  const { app } = await setup(t)
  const state = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
  const page = await get(app, url({ state, error_description: '<b onmouseover=alert(3)>x</b>' }), new Jar())
  t.equal(page.statusCode, 200)
  const csp = page.headers['content-security-policy'] as string
  t.match(csp, /default-src 'none'/)
  t.match(csp, /frame-ancestors 'none'/)
  t.notMatch(csp, /unsafe-inline|unsafe-eval|script-src/, 'no script source at all')
  t.equal(page.headers['x-frame-options'], 'DENY')
  t.equal(page.headers['cache-control'], 'no-store')
  t.notOk(/<script|<img|<b /.test(page.body), 'no markup from the request survives as markup')
  t.notOk(page.body.includes('onmouseover'), 'error_description is not reflected at all')
  t.ok(page.body.includes('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"'), 'state is escaped into its hidden field')
  t.notOk(page.body.includes('style='), 'no inline style')
  t.match(page.body, /<label for="username">[\s\S]*<input id="username"/, 'labelled fields')
  const css = await app.inject({ method: 'GET', url: '/oauth/assets/login.css' })
  t.match(css.body, /:focus-visible\{outline:3px/, 'a visible focus ring')
})

t.test('W02: the login form needs its CSRF token (missing, wrong, or from another browser: 403)', async (t) => {
  const { app } = await setup(t)
  const jar = new Jar()
  const page = await get(app, url({}), jar)
  const fields = formFields(page.body)
  const creds: Array<[string, string]> = [['username', 'alice'], ['password', 'alice-password']]
  const without = fields.filter(([k]) => k !== '_csrf')
  for (const [what, body, j] of [
    ['missing token', [...without, ...creds], jar],
    ['wrong token', [...without, ['_csrf', 'forged-token'], ...creds], jar],
    ['right token, another browser (no CSRF cookie)', [...fields, ...creds], new Jar()]
  ] as Array<[string, Array<[string, string]>, Jar]>) {
    const res = await postForm(app, '/oauth/authorize', body, j)
    t.equal(res.statusCode, 403, what)
    t.equal(res.headers.location, undefined, `${what}: no code`)
    t.ok(res.body.includes('Missing or invalid CSRF token'), what)
  }
  t.equal((await postForm(app, '/oauth/authorize', [...fields, ...creds], jar)).statusCode, 303, 'with its token it works')
})

t.test('T20 at the login page: a wrong password re-renders the form with the error tied to the fields; the throttle answers 429', async (t) => {
  const { app } = await setup(t)
  const wrong = await loginThrough(app, url({}), new Jar(), 'alice', 'nope')
  t.equal(wrong.statusCode, 400)
  t.match(wrong.body, /<p class="error" id="login-error" role="alert">The username or password is incorrect\.<\/p>/)
  t.match(wrong.body, /<input id="password"[^>]*aria-describedby="login-error" aria-invalid="true"/)
  t.match(wrong.body, /value="alice"/, 'the username is kept')
  await loginThrough(app, url({}), new Jar(), 'ALICE', 'nope')
  await loginThrough(app, url({}), new Jar(), 'alice', 'nope')
  const throttled = await loginThrough(app, url({}), new Jar(), 'alice', 'alice-password')
  t.equal(throttled.statusCode, 429, 'after LOGIN_MAX_FAILURES even the right password waits')
  t.match(throttled.headers['retry-after'], /^[1-9][0-9]*$/)
  t.ok(throttled.body.includes('Too many attempts'))
})

t.test('T29 at the login page: past TOKEN_RATE_LIMIT requests a minute from one IP, even the right password gets 429; another IP is not affected', async (t) => {
  const { app } = await setup(t, { TOKEN_RATE_LIMIT: '3' })
  const jar = new Jar()
  const fromA = { 'x-forwarded-for': '203.0.113.7' } // trustProxy: the proxy's header names the client
  const fields = formFields((await get(app, url({}), jar, fromA)).body) // request 1
  const attempt = async (username: string, password: string, headers = fromA) =>
    await postForm(app, '/oauth/authorize', [...fields, ['username', username], ['password', password]], jar, headers)
  t.equal((await attempt('bob', 'nope')).statusCode, 400, 'request 2: a wrong password')
  t.equal((await attempt('carol', 'nope')).statusCode, 400, 'request 3: another username (no username over its limit)')
  const throttled = await attempt('alice', 'alice-password')
  t.equal(throttled.statusCode, 429, 'request 4: refused before the password is looked at')
  t.match(throttled.headers['retry-after'], /^[1-9][0-9]*$/)
  t.equal(throttled.headers.location, undefined, 'no code')
  t.ok(throttled.body.includes('<p class="error" role="alert">Too many requests</p>'), 'a page saying why (rate_limited, not the username throttle)')
  t.equal((await attempt('alice', 'alice-password', { 'x-forwarded-for': '198.51.100.2' })).statusCode, 303, 'the same form from another IP signs in')
})

t.test('session cookie: HttpOnly, SameSite=Lax, Path=/oauth, signed; Secure (and __Secure-) over https', async (t) => {
  const { app } = await setup(t)
  const plain = await loginThrough(app, url({}), new Jar(), 'alice', 'alice-password')
  const cookie = ([] as string[]).concat(plain.headers['set-cookie'] as string[]).find((c) => c.startsWith('portcullis-login='))!
  t.match(cookie, /HttpOnly/)
  t.match(cookie, /SameSite=Lax/)
  t.match(cookie, /Path=\/oauth/)
  t.notMatch(cookie, /Secure/, 'plain http: no Secure')
  t.match(cookie, /^portcullis-login=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_+/-]+/, 'id.signature')
  const https = await loginThrough(app, url({}), new Jar(), 'alice', 'alice-password', { 'x-forwarded-proto': 'https' })
  const secure = ([] as string[]).concat(https.headers['set-cookie'] as string[]).find((c) => c.startsWith('__Secure-portcullis-login='))
  t.match(secure, /; Secure/)
})

t.test('SSO: inside the session a second authorize skips the form; prompt=login forces it; logout ends it', async (t) => {
  const { app } = await setup(t)
  const jar = new Jar()
  t.equal((await loginThrough(app, url({}), jar, 'alice', 'alice-password')).statusCode, 303)
  const again = await get(app, url({ state: 'second' }), jar)
  t.equal(again.statusCode, 302, 'no form')
  t.match(new URL(again.headers.location as string).searchParams.get('code'), /^[A-Za-z0-9_-]{43}$/)
  t.equal(new URL(again.headers.location as string).searchParams.get('state'), 'second')
  const forced = await get(app, url({ prompt: 'login' }), jar)
  t.equal(forced.statusCode, 200, 'prompt=login shows the form')
  t.notOk(formFields(forced.body).some(([k]) => k === 'prompt'), 'and does not loop after the login')
  const tampered = new Jar()
  for (const [k, v] of jar.cookies) tampered.cookies.set(k, k.includes('login') ? v.replace(/^./, (c) => c === 'A' ? 'B' : 'A') : v)
  t.equal((await get(app, url({}), tampered)).statusCode, 200, 'a cookie that fails its signature is no session')
  const logoutPage = await get(app, '/oauth/logout', jar)
  t.equal((await postForm(app, '/oauth/logout', [], jar)).statusCode, 403, 'W02: logout without its CSRF token is refused')
  t.equal((await get(app, url({}), jar)).statusCode, 302, 'still signed in')
  t.equal((await postForm(app, '/oauth/logout', formFields(logoutPage.body), jar)).statusCode, 200)
  t.equal((await get(app, url({}), jar)).statusCode, 200, 'signed out: the form again')
})

t.test('SSO ends when the user is revoked or disabled', async (t) => {
  const { app, store } = await setup(t)
  const jar = new Jar()
  await loginThrough(app, url({}), jar, 'alice', 'alice-password')
  await store.revokeUserBefore('alice', Math.floor(Date.now() / 1000) + 1)
  t.equal((await get(app, url({}), jar)).statusCode, 200, 'users revoke: the form again')
})

t.test('consent: a --consent client gets a page listing each scope with its description (W05: escaped); allow gives the code, deny access_denied', async (t) => {
  const { app } = await setup(t)
  const jar = new Jar()
  const consent = await loginThrough(app, url({ client_id: 'third', scope: 'read write' }), jar, 'alice', 'alice-password')
  t.equal(consent.statusCode, 200)
  t.ok(consent.body.includes('<li><code>read</code>: Read your &lt;b&gt;orders&lt;/b&gt; &amp; &quot;profile&quot;</li>\n<li><code>write</code></li>'),
    'each scope, its description beside it escaped; a scope without one is listed bare')
  t.notOk(consent.body.includes('<b>orders'), 'no markup from a description survives as markup')
  t.match(consent.headers['x-frame-options'], 'DENY')
  const fields = formFields(consent.body)
  const allow = await postForm(app, '/oauth/consent', [...fields, ['decision', 'allow']], jar)
  t.equal(allow.statusCode, 303)
  t.ok(new URL(allow.headers.location as string).searchParams.get('code'))
  const deny = await postForm(app, '/oauth/consent', [...fields, ['decision', 'deny']], jar)
  t.equal(new URL(deny.headers.location as string).searchParams.get('error'), 'access_denied')
  t.equal((await postForm(app, '/oauth/consent', [...fields.filter(([k]) => k !== '_csrf'), ['decision', 'allow']], jar)).statusCode, 403, 'W02: consent needs its CSRF token')
  const first = await get(app, url({}), jar)
  t.equal(first.statusCode, 302, 'a first-party client skips consent')
})
