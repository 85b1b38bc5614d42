// Issue 12 item 8, browser part: the authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636,
// RFC 8252) driven in real headless Chromium against an in-process gateway: the hosted login page,
// the loopback redirect URI, the code exchange with oauth4webapi, a protected route with the token.
// Also through the browser: CSRF (token removed or changed), wrong password and the throttle, markup
// through state, error_description, the username and client_id, framing, code replay, PKCE and
// redirect URI mismatch, an unregistered redirect URI, SSO and prompt=login, DPoP replay, a wrong htu
// and a token without its proof; no JavaScript; 360 px; visible focus. One browser for the whole
// file; one context (cookie jar) per scenario.
import t from 'tap'
import * as oauth from 'oauth4webapi'
import type { Page, Response as PwResponse } from 'playwright-core'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { seedUser } from '../helpers/oauth.js'
import { dpopKeyOf, proof } from '../helpers/dpop.js'
import { freePort } from '../helpers/redis-server.js'
import { authorizationUrl, discover, exchangeCode, insecure, launchBrowser, screenshot, startLoopback } from '../helpers/browser.js'

const USER = { name: 'alice', password: 'correct horse battery staple' }
const upstream = await startEchoUpstream()
t.teardown(async () => { await upstream.close() })
const port = await freePort()
const issuer = `http://127.0.0.1:${port}`
// every /oauth request of the file counts against TOKEN_RATE_LIMIT (60 a minute per IP, T29): 34 now
const gw = await startTestGateway(t, {
  env: { PORT: String(port), ISSUER: issuer, LOGIN_MAX_FAILURES: '3' },
  routes: `version: 1
upstreams:
  orders: { url: ${upstream.url} }
routes:
  - path: /orders/*
    upstream: orders
    scopes: [orders:read]
`
})
await seedUser(gw.store, USER.name, USER.password, ['orders:read', 'orders:write'])
await seedUser(gw.store, 'mallory', 'mallory-password', ['orders:read'])
await gw.store.putClient({
  id: 'mobile', secretHash: null, grants: ['authorization_code', 'refresh_token'], scopes: ['orders:read', 'orders:write'],
  redirectUris: ['http://127.0.0.1/cb', 'com.example.app:/oauth/callback'], disabled: false, createdAt: 0
})
const as = await discover(issuer)
const client: oauth.Client = { client_id: 'mobile' }
const loopback = await startLoopback(t)
const browser = await launchBrowser(t)

/** Fills and submits the login form; the answer to its POST (a redirect, or a page). */
async function signIn (page: Page, name = USER.name, password = USER.password): Promise<PwResponse> {
  await page.getByLabel('Username').fill(name)
  await page.getByLabel('Password').fill(password)
  const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === as.authorization_endpoint)
  await page.getByRole('button', { name: 'Sign in' }).click()
  return await posted
}

/** The OAuth error of a failed exchange (oauth4webapi throws it), or undefined if it succeeded. */
const grantError = async (exchange: Promise<unknown>): Promise<string | undefined> =>
  await exchange.then(() => undefined, (err: { error?: string }) => err.error ?? String(err))

t.test('RFC 6749 §4.1 + RFC 7636 + RFC 8252 §7.3 + RFC 9449: login page (360 px, visible focus) → loopback redirect → oauth4webapi exchange with DPoP → protected route (replayed proof, wrong htu, no proof) → refresh', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const { url, verifier, state } = await authorizationUrl(as, 'mobile', loopback.redirectUri, { scope: 'orders:read' })
  const login = await page.goto(url.href)
  t.equal(login?.status(), 200)
  t.match(login?.headers()['content-security-policy'], /frame-ancestors 'none'/)
  await page.setViewportSize({ width: 360, height: 740 })
  t.ok(await screenshot(page, 'login-360x740.png'))
  const scrollWidth = await page.evaluate('document.documentElement.scrollWidth') as number
  t.ok(scrollWidth <= 360, `360 px: no horizontal scroll (scrollWidth ${scrollWidth})`)
  for (const [name, field] of [['username', page.getByLabel('Username')], ['password', page.getByLabel('Password')], ['button', page.getByRole('button', { name: 'Sign in' })]] as const) {
    const box = await field.boundingBox()
    t.ok(await field.isVisible() && box !== null && box.x >= 0 && box.x + box.width <= 360 && box.y + box.height <= 740, `360×740: the ${name} is visible and in view`)
  }
  await page.setViewportSize({ width: 1280, height: 800 })
  t.ok(await screenshot(page, 'login-1280x800.png'))
  await page.keyboard.press('Tab')
  const focus = await page.evaluate(`(({ id }, s) => ({ id, outline: s.outlineStyle, width: parseFloat(s.outlineWidth), shadow: s.boxShadow }))
    (document.activeElement, getComputedStyle(document.activeElement))`) as { id: string, outline: string, width: number, shadow: string }
  t.equal(focus.id, 'username', 'Tab reaches the username field first')
  t.ok((focus.outline !== 'none' && focus.width >= 2) || focus.shadow !== 'none', `visible focus: outline ${focus.outline} ${focus.width}px, box-shadow ${focus.shadow}`)

  const callback = loopback.next()
  await signIn(page)
  const cb = await callback
  t.equal(cb.searchParams.get('state'), state, 'state comes back unchanged')
  t.equal(cb.searchParams.get('iss'), issuer, 'RFC 9207: iss in the response')
  // the app's DPoP key (RFC 9449): the code exchange binds the tokens to it
  const keyPair = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, keyPair)
  const tokens = await exchangeCode(as, client, cb, loopback.redirectUri, verifier, state, { DPoP })
  t.equal(tokens.token_type.toLowerCase(), 'dpop', 'RFC 9449 §5: a DPoP-bound access token')
  t.equal(tokens.scope, 'orders:read')
  t.type(tokens.refresh_token, 'string', 'a rotating refresh token, as the other grants')
  const call = async (token: string): Promise<Response> =>
    await oauth.protectedResourceRequest(token, 'GET', new URL(`${issuer}/orders/7`), new Headers(), null, { DPoP, ...insecure })
  const api = await call(tokens.access_token)
  t.equal(api.status, 200, 'the protected route accepts the token with its proof')
  const seen = (await api.json() as { headers: Record<string, string> }).headers
  t.equal(seen['x-auth-subject'], 'alice')
  t.equal(seen['x-auth-token-type'], 'DPoP', 'the upstream can tell a DPoP-bound request')
  const asBearer = await fetch(`${issuer}/orders/7`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(asBearer.status, 401, 'the same token without its proof is refused')
  // proofs made by hand with the app's key (RFC 9449 §4.2): one valid, then replayed; one for another path
  const key = await dpopKeyOf(keyPair)
  const withProof = async (dpop: string): Promise<number> =>
    (await fetch(`${issuer}/orders/7`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop } })).status
  const once = await proof(key, { htu: `${issuer}/orders/7`, token: tokens.access_token })
  t.equal(await withProof(once), 200, 'a hand-made proof of the app\'s key passes once')
  t.equal(await withProof(once), 401, 'RFC 9449 §11.1: the same proof (same jti) again is refused')
  t.equal(await withProof(await proof(key, { htu: `${issuer}/orders/8`, token: tokens.access_token })), 401, 'RFC 9449 §4.3: a proof whose htu names another path is refused')
  const refreshed = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, { DPoP, ...insecure }))
  t.equal(refreshed.token_type.toLowerCase(), 'dpop', 'refresh with the same key: still bound')
  t.equal((await call(refreshed.access_token)).status, 200, 'the refreshed token works with its proof')
  const otherKey = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
  const stolen = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshed.refresh_token!, { DPoP: otherKey, ...insecure })
  t.equal(stolen.status, 400, 'RFC 9449 §5: the public client\'s refresh token is bound to the key of its code exchange')
})

t.test('in the browser: W05 markup in state, error_description and the username stays text, a wrong password shows the error, SSO skips the form, prompt=login forces it', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const alerts: string[] = []
  page.on('dialog', (d) => { alerts.push(d.message()); void d.dismiss() })
  const evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
  const evilName = '"><img src=x onerror=alert(4)>'
  const { url } = await authorizationUrl(as, 'mobile', loopback.redirectUri, { state: evil, error_description: '<b onmouseover=alert(3)>x</b>' })
  await page.goto(url.href)
  t.notOk((await page.content()).includes('onmouseover'), 'error_description is not reflected at all, not even as a value')
  await signIn(page, evilName, 'wrong password')
  t.equal(await page.getByRole('alert').textContent(), 'The username or password is incorrect.')
  t.equal(await page.getByLabel('Password').getAttribute('aria-describedby'), 'login-error', 'the error is tied to the field')
  t.equal(await page.locator('input[name=state]').inputValue(), evil, 'state survives as a value, not as markup')
  t.equal(await page.getByLabel('Username').inputValue(), evilName, 'the username comes back as a value, not as markup')
  t.equal(await page.locator('script, img, b').count(), 0, 'no element from the request')
  t.same(alerts, [], 'no injected script ran')
  const first = loopback.next()
  await signIn(page)
  t.equal((await first).searchParams.get('state'), evil, 'and comes back unchanged')

  const second = await authorizationUrl(as, 'mobile', loopback.redirectUri)
  const sso = loopback.next()
  await page.goto(second.url.href)
  t.equal((await sso).searchParams.get('state'), second.state, 'SSO: a second authorize in the session skips the form')

  const forced = await authorizationUrl(as, 'mobile', loopback.redirectUri, { prompt: 'login' })
  await page.goto(forced.url.href)
  t.equal(await page.getByLabel('Username').count(), 1, 'prompt=login shows the form again')
})

t.test('in the browser: W04 the login page refuses to render inside a frame', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const { url } = await authorizationUrl(as, 'mobile', loopback.redirectUri)
  const answered = page.waitForEvent('response', (r) => r.url() === url.href)
  const committed = page.waitForEvent('framenavigated', (f) => f !== page.mainFrame())
  // resolves at the outer page's load event, which waits for the frame's own (blocked or not)
  await page.setContent(`<iframe src="${url.href}" width="400" height="400"></iframe>`)
  t.equal((await (await answered).headerValue('x-frame-options')), 'DENY', 'X-Frame-Options: DENY')
  const frame = await committed
  await frame.waitForLoadState('load')
  t.equal(frame.url(), 'chrome-error://chromewebdata/', 'Chromium blocked it: the frame holds its error page, not the login page')
  t.equal(await frame.locator('#username').count(), 0, 'no form inside the frame')
})

t.test('in the browser: W01 a browser-obtained code: a wrong code_verifier or redirect_uri is invalid_grant; replayed after a successful exchange it revokes the tokens it gave', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const { url, verifier, state } = await authorizationUrl(as, 'mobile', loopback.redirectUri)
  const callback = loopback.next()
  await page.goto(url.href)
  await signIn(page)
  const cb = await callback
  t.equal(await grantError(exchangeCode(as, client, cb, loopback.redirectUri, oauth.generateRandomCodeVerifier(), state)), 'invalid_grant',
    'RFC 7636 §4.6: a wrong code_verifier (PKCE mismatch)')
  t.equal(await grantError(exchangeCode(as, client, cb, 'com.example.app:/oauth/callback', verifier, state)), 'invalid_grant',
    'RFC 6749 §4.1.3: a registered redirect_uri, but not the authorization request\'s')
  const tokens = await exchangeCode(as, client, cb, loopback.redirectUri, verifier, state)
  t.equal(tokens.token_type.toLowerCase(), 'bearer', 'neither refusal used the code up: the right pair still gets tokens')
  t.equal(await grantError(exchangeCode(as, client, cb, loopback.redirectUri, verifier, state)), 'invalid_grant', 'a replay is invalid_grant')
  const api = await fetch(`${issuer}/orders/7`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(api.status, 401, 'the access token from the first exchange is revoked')
})

t.test('in the browser: W03 an unregistered redirect_uri is an error page on the gateway, never a navigation to it; W05 a client_id with markup is shown as text', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const requested: string[] = []
  page.on('request', (r) => { requested.push(r.url()) })
  const alerts: string[] = []
  page.on('dialog', (d) => { alerts.push(d.message()); void d.dismiss() })
  for (const bad of ['https://evil.example/cb', loopback.redirectUri.replace(/\/cb$/, '/elsewhere')]) {
    const { url } = await authorizationUrl(as, 'mobile', bad)
    const res = await page.goto(url.href)
    t.equal(res?.status(), 400, bad)
    t.equal(await page.getByRole('heading').textContent(), 'Cannot continue', bad)
    t.equal(await page.getByRole('alert').textContent(), 'The redirect_uri is missing or not registered for this client', bad)
    t.equal(page.url(), url.href, `${bad}: the browser stays on the gateway`)
    t.same(requested.filter((u) => u.startsWith(bad)), [], `${bad}: never requested`)
  }
  const evilId = '<img src=x onerror=alert(5)>'
  const { url } = await authorizationUrl(as, evilId, loopback.redirectUri)
  t.equal((await page.goto(url.href))?.status(), 400)
  t.equal(await page.locator('.detail').textContent(), `Client: ${evilId}`, 'the client_id is shown as text')
  t.equal(await page.locator('img').count(), 0, 'no element from the request')
  t.same(alerts, [], 'no injected script ran')
})

t.test('in the browser: W02 a login form whose CSRF token was removed or changed in the DOM gets "This form has expired" (403), no code; untouched it works', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const { url } = await authorizationUrl(as, 'mobile', loopback.redirectUri)
  const tampering: Array<[string, (e: { remove(): void, value: string }) => void]> = [['removed', (e) => { e.remove() }], ['changed', (e) => { e.value = 'forged-token' }]]
  for (const [what, tamper] of tampering) {
    await page.goto(url.href)
    await page.locator('input[name=_csrf]').evaluate(tamper)
    const res = await signIn(page)
    t.equal(res.status(), 403, `${what}: 403`)
    t.equal(await page.getByRole('heading').textContent(), 'This form has expired', what)
    t.equal(await page.getByRole('alert').textContent(), 'Missing or invalid CSRF token; reload the form and try again', what)
    t.equal(new URL(page.url()).origin, issuer, `${what}: no redirect`)
  }
  const callback = loopback.next()
  await page.goto(url.href)
  t.equal((await signIn(page)).status(), 303)
  t.ok((await callback).searchParams.get('code'), 'the same form untouched gives a code')
})

t.test('in the browser: T20 LOGIN_MAX_FAILURES (3) wrong passwords, then even the right one gets "Too many attempts" (429)', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const { url } = await authorizationUrl(as, 'mobile', loopback.redirectUri)
  await page.goto(url.href)
  for (let i = 1; i <= 3; i++) {
    t.equal((await signIn(page, 'mallory', `wrong ${i}`)).status(), 400, `wrong password ${i}`)
    t.equal(await page.getByRole('alert').textContent(), 'The username or password is incorrect.')
  }
  const throttled = await signIn(page, 'mallory', 'mallory-password')
  t.equal(throttled.status(), 429, 'the right password after 3 failures: 429')
  t.match(await throttled.headerValue('retry-after'), /^[1-9][0-9]*$/, 'with Retry-After')
  t.equal(await page.getByRole('alert').textContent(), 'Too many attempts. Wait a few minutes, then try again.')
  t.equal(new URL(page.url()).origin, issuer, 'no code')
})

t.test('in the browser without JavaScript: the login completes and the loopback redirect URI gets a code', async (t) => {
  const context = await browser.newContext({ javaScriptEnabled: false })
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  await page.setContent('<title>before</title><script>document.title = "script ran"</script>')
  t.equal(await page.title(), 'before', 'scripts really are off in this context')
  const { url, verifier, state } = await authorizationUrl(as, 'mobile', loopback.redirectUri)
  const callback = loopback.next()
  await page.goto(url.href)
  await signIn(page)
  const cb = await callback
  t.equal(cb.searchParams.get('state'), state)
  const tokens = await exchangeCode(as, client, cb, loopback.redirectUri, verifier, state)
  t.type(tokens.access_token, 'string', 'the code is a real one')
})
