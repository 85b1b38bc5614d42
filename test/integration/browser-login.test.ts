// Issue 12 item 8, browser part: the authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636,
// RFC 8252) driven in real headless Chromium against an in-process gateway: the hosted login page,
// the loopback redirect URI, the code exchange with oauth4webapi, a protected route with the token.
// Also: CSRF, wrong password and the throttle, markup injection, clickjacking headers, SSO and
// prompt=login. One browser for the whole file; one context (cookie jar) per scenario.
import t from 'tap'
import * as oauth from 'oauth4webapi'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { seedUser } from '../helpers/oauth.js'
import { freePort } from '../helpers/redis-server.js'
import { authorizationUrl, discover, exchangeCode, insecure, launchBrowser, screenshot, startLoopback } from '../helpers/browser.js'

const USER = { name: 'alice', password: 'correct horse battery staple' }
const upstream = await startEchoUpstream()
t.teardown(async () => { await upstream.close() })
const port = await freePort()
const issuer = `http://127.0.0.1:${port}`
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

async function signIn (page: import('playwright-core').Page, name = USER.name, password = USER.password): Promise<void> {
  await page.getByLabel('Username').fill(name)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
}

t.test('RFC 6749 §4.1 + RFC 7636 + RFC 8252 §7.3 + RFC 9449: login page → loopback redirect → oauth4webapi exchange with DPoP → protected route → refresh', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const { url, verifier, state } = await authorizationUrl(as, 'mobile', loopback.redirectUri, { scope: 'orders:read' })
  const login = await page.goto(url.href)
  t.equal(login?.status(), 200)
  t.match(login?.headers()['content-security-policy'], /frame-ancestors 'none'/)
  await page.setViewportSize({ width: 360, height: 740 })
  t.ok(await screenshot(page, 'login-360x740.png'))
  await page.setViewportSize({ width: 1280, height: 800 })
  t.ok(await screenshot(page, 'login-1280x800.png'))

  const callback = loopback.next()
  await signIn(page)
  const cb = await callback
  t.equal(cb.searchParams.get('state'), state, 'state comes back unchanged')
  t.equal(cb.searchParams.get('iss'), issuer, 'RFC 9207: iss in the response')
  // the app's DPoP key (RFC 9449): the code exchange binds the tokens to it
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
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
  const refreshed = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, { DPoP, ...insecure }))
  t.equal(refreshed.token_type.toLowerCase(), 'dpop', 'refresh with the same key: still bound')
  t.equal((await call(refreshed.access_token)).status, 200, 'the refreshed token works with its proof')
  const otherKey = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
  const stolen = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshed.refresh_token!, { DPoP: otherKey, ...insecure })
  t.equal(stolen.status, 400, 'RFC 9449 §5: the public client\'s refresh token is bound to the key of its code exchange')
})

t.test('in the browser: W05 markup in state stays text, a wrong password shows the error, SSO skips the form, prompt=login forces it', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const alerts: string[] = []
  page.on('dialog', (d) => { alerts.push(d.message()); void d.dismiss() })
  const evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
  const { url } = await authorizationUrl(as, 'mobile', loopback.redirectUri, { state: evil })
  await page.goto(url.href)
  await signIn(page, USER.name, 'wrong password')
  t.equal(await page.getByRole('alert').textContent(), 'The username or password is incorrect.')
  t.equal(await page.getByLabel('Password').getAttribute('aria-describedby'), 'login-error', 'the error is tied to the field')
  t.equal(await page.locator('input[name=state]').inputValue(), evil, 'state survives as a value, not as markup')
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
  const blocked = page.waitForEvent('response', (r) => r.url() === url.href)
  await page.setContent(`<iframe src="${url.href}" width="400" height="400"></iframe>`)
  t.equal((await (await blocked).headerValue('x-frame-options')), 'DENY')
  await page.waitForTimeout(200) // let the frame settle (hang guard only: the assertion does not depend on speed)
  const frame = page.frames().find((f) => f !== page.mainFrame())
  t.equal(await frame?.locator('#username').count() ?? 0, 0, 'no form inside the frame')
})

t.test('in the browser: W01 the code replayed after a successful exchange revokes the tokens it gave', async (t) => {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const { url, verifier, state } = await authorizationUrl(as, 'mobile', loopback.redirectUri)
  const callback = loopback.next()
  await page.goto(url.href)
  await signIn(page)
  const cb = await callback
  const tokens = await exchangeCode(as, client, cb, loopback.redirectUri, verifier, state)
  const replay = await exchangeCode(as, client, cb, loopback.redirectUri, verifier, state).catch((err: unknown) => err)
  t.equal((replay as { error?: string }).error, 'invalid_grant', 'a replay is invalid_grant')
  const api = await fetch(`${issuer}/orders/7`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(api.status, 401, 'the access token from the first exchange is revoked')
})
