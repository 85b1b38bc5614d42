// RFC 9449 across two gateway instances sharing one real redis-server (issue 12 items 5 and 8), with
// oauth4webapi as the client (a DPoP implementation we did not write): password grant with DPoP on
// one instance, the protected call and the refresh on the other; a proof replayed to the other
// instance is refused (the jti is claimed in the store, §11.1); a nonce issued by one instance is
// accepted by the other (§8, §9: an HMAC of a time slot under a secret kept in the store).
import t from 'tap'
import * as oauth from 'oauth4webapi'
import { RedisStore } from '../../src/store/index.js'
import { dpopKey, proof } from '../helpers/dpop.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { FIXTURE, seedFixture } from '../helpers/oauth.js'
import { rawRequest, type RawResponse } from '../helpers/raw-http.js'
import { startRedis } from '../helpers/redis-server.js'

const redis = await startRedis()
t.teardown(() => redis.stop())
const echo = await startEchoUpstream()
t.teardown(() => echo.close())
const ROUTES = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /api/*
    upstream: echo
    scopes: [read]
`
const stores = [0, 1].map(() => new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'dpop:' }))
for (const s of stores) t.teardown(() => s.close())
if (!(await Promise.all(stores.map(async (s) => await s.ready(5000)))).every(Boolean)) throw new Error('redis-server did not become ready')
const env = { DPOP_NONCE: '1', TOKEN_RATE_LIMIT: '1000' }
const a = await startTestGateway(t, { routes: ROUTES, store: stores[0]!, env })
const b = await startTestGateway(t, { routes: ROUTES, store: stores[1]!, env })
await seedFixture(stores[0]!)

const insecure = { [oauth.allowInsecureRequests]: true } as const
const client: oauth.Client = { client_id: 'spa' }
const asOf = (gw: { url: string }): oauth.AuthorizationServer => ({ issuer: gw.url, token_endpoint: `${gw.url}/oauth/token` })

/** oauth4webapi's documented pattern: a use_dpop_nonce answer is retried once with the nonce it cached. */
async function withNonceRetry<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    return await fn()
  }
}

t.test('oauth4webapi: password grant with DPoP on A, protected call and refresh on B, nonces from either instance', async (t) => {
  const keyPair = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, keyPair)
  const login = await withNonceRetry(async () => await oauth.processGenericTokenEndpointResponse(asOf(a), client,
    await oauth.genericTokenEndpointRequest(asOf(a), client, oauth.None(), 'password', { username: FIXTURE.user, password: FIXTURE.password, scope: 'read' }, { DPoP, ...insecure })))
  t.equal(login.token_type, 'dpop', 'RFC 9449 §5: token_type DPoP')
  t.ok(login.refresh_token)

  const call = async (token: string): Promise<Response> => await withNonceRetry(async () =>
    await oauth.protectedResourceRequest(token, 'GET', new URL(`${b.url}/api/items`), new Headers(), null, { DPoP, ...insecure }))
  const res = await call(login.access_token)
  t.equal(res.status, 200, 'B accepts A\'s token with a proof carrying B\'s nonce')
  t.equal(((await res.json()) as { headers: Record<string, string> }).headers['x-auth-token-type'], 'DPoP')

  const refreshed = await withNonceRetry(async () => await oauth.processRefreshTokenResponse(asOf(b), client,
    await oauth.refreshTokenGrantRequest(asOf(b), client, oauth.None(), login.refresh_token!, { DPoP, ...insecure })))
  t.equal(refreshed.token_type, 'dpop', 'refresh with DPoP on the other instance: still bound')
  t.not(refreshed.refresh_token, login.refresh_token)
  t.equal((await call(refreshed.access_token)).status, 200)
})

t.test('RFC 9449 §11.1: a proof used on A and replayed to B is refused; A\'s nonce is good on B', async (t) => {
  const key = await dpopKey()
  const loginAt = async (url: string, nonce?: string): Promise<Response> => await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, { htm: 'POST', htu: `${url}/oauth/token`, ...(nonce !== undefined && { nonce }) }) },
    body: new URLSearchParams({ grant_type: 'password', client_id: 'spa', username: FIXTURE.user, password: FIXTURE.password }).toString()
  })
  const nonce = (await loginAt(a.url)).headers.get('dpop-nonce')!
  const tokens = await (await loginAt(b.url, nonce)).json() as { access_token: string, token_type: string }
  t.equal(tokens.token_type, 'DPoP', 'a nonce issued by A is accepted by B')

  const edgeNonce = (await fetch(`${a.url}/api/x`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await proof(key, { htu: `${a.url}/api/x`, token: tokens.access_token }) } })).headers.get('dpop-nonce')!
  // the proof names one URL; two instances behind one name see the same URL (same Host), as here through one Host header
  const htu = 'http://gateway.example/api/x'
  const p = await proof(key, { htu, token: tokens.access_token, nonce: edgeNonce })
  const send = async (port: number): Promise<RawResponse> =>
    await rawRequest(port, `GET /api/x HTTP/1.1\r\nHost: gateway.example\r\nAuthorization: DPoP ${tokens.access_token}\r\nDPoP: ${p}\r\nConnection: close\r\n\r\n`)
  const first = await send(a.port)
  t.equal(first.status, 200, 'first use on A')
  const replay = await send(b.port)
  t.equal(replay.status, 401, 'the same jti on B is refused')
  t.same(JSON.parse(replay.body), { error: 'invalid_dpop_proof', error_description: 'The DPoP proof is invalid' })
})
