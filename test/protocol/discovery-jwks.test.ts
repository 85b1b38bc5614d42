// Discovery (RFC 8414) and the JWKS (RFC 7517): what we serve, then standard client libraries reading it.
import t from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { JWKS_CACHE_CONTROL } from '../../src/oauth/jwks.js'
import { rotateKey } from '../../src/oauth/keys.js'
import { MemoryStore } from '../../src/store/index.js'
import { basic, buildOAuthApp, decodeSegment, FIXTURE, passwordTokens, post, seedClient, seedFixture } from '../helpers/oauth.js'
import { freePort } from '../helpers/redis-server.js'

// RFC 8414 metadata, RFC 7517 JWKS, and key rotation (issue 3 points 4 and 5).

t.test('RFC 8414 §2/§3: metadata has the REQUIRED members and our endpoints', async (t) => {
  const { app, store } = await buildOAuthApp(t)
  await seedFixture(store)
  await seedClient(store, 'off', { secret: 'x', grants: ['client_credentials'], scopes: ['secret-scope'], disabled: true })
  const res = await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(res.json(), {
    issuer: 'https://as.example',
    authorization_endpoint: 'https://as.example/oauth/authorize',
    token_endpoint: 'https://as.example/oauth/token',
    jwks_uri: 'https://as.example/.well-known/jwks.json',
    revocation_endpoint: 'https://as.example/oauth/revoke',
    introspection_endpoint: 'https://as.example/oauth/introspect',
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    grant_types_supported: ['password', 'client_credentials', 'refresh_token', 'authorization_code'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    dpop_signing_alg_values_supported: ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
    scopes_supported: ['read', 'reports', 'write']
  }, 'scopes_supported: union of enabled clients only')
})

t.test('RFC 7517 §5: JWKS with kid, alg, use, cache headers and no private members', async (t) => {
  const { app, keys } = await buildOAuthApp(t, { env: { SIGNING_ALG: 'EdDSA' } })
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], JWKS_CACHE_CONTROL)
  t.match(res.headers['content-type'], /^application\/jwk-set\+json/)
  const { keys: jwks } = res.json()
  t.same(jwks, [{ kty: 'OKP', kid: keys.signingKey().kid, alg: 'EdDSA', use: 'sig', crv: 'Ed25519', x: jwks[0].x }])
  t.notMatch(res.body, /"d"|PRIVATE/, 'nothing private in the payload')
  const head = await app.inject({ method: 'HEAD', url: '/.well-known/jwks.json' })
  t.equal(head.statusCode, 200, 'HEAD works')
})

t.test('keys rotate: tokens signed by the old key still verify; JWKS lists both keys', async (t) => {
  const store = new MemoryStore()
  const { app, keys, config } = await buildOAuthApp(t, { store })
  await seedFixture(store)
  const before = await passwordTokens(app)
  const oldKid = keys.signingKey().kid
  const added = await rotateKey(store, 'ES256', { maxTokenLifetime: config.ACCESS_TOKEN_TTL + config.CLOCK_SKEW })
  await keys.refresh() // what the 30 s timer does on every instance
  const after = await passwordTokens(app)
  t.equal(decodeSegment(after.access_token, 0).kid, added.kid, 'new tokens carry the new kid')
  t.equal(decodeSegment(before.access_token, 0).kid, oldKid)
  const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.same(jwks.keys.map((k: { kid: string }) => k.kid), [added.kid, oldKid])
  const introspect = async (token: string) => (await post(app, '/oauth/introspect', { token }, { authorization: basic('web', FIXTURE.webSecret) })).json()
  t.equal((await introspect(before.access_token)).active, true, 'old-key token still verifies')
  t.equal((await introspect(after.access_token)).active, true, 'new-key token verifies')
})

t.test('keys rotate: the new key is published in the JWKS at once, before any instance signs with it', async (t) => {
  const store = new MemoryStore()
  const { app, keys, config } = await buildOAuthApp(t, { store })
  const oldKid = keys.signingKey().kid
  const first = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.same(first.keys.map((k: { kid: string }) => k.kid), [oldKid])
  const added = await rotateKey(store, 'ES256', { maxTokenLifetime: config.ACCESS_TOKEN_TTL + config.CLOCK_SKEW })
  await new Promise((resolve) => setTimeout(resolve, 1100)) // past the endpoint's 1 s re-read guard
  const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.same(jwks.keys.map((k: { kid: string }) => k.kid), [added.kid, oldKid], 'published without waiting for the ring timer')
})

// Interoperability with libraries we did not write (issue 3 "Done when"): jose verifies our access
// tokens against the served JWKS; oauth4webapi does discovery, client credentials (Basic and post),
// a generic password grant, refresh, introspection and revocation. Real listening server, real HTTP.

const insecure = { [oauth.allowInsecureRequests]: true } // plain http on loopback in tests only

async function listening (t: Parameters<typeof buildOAuthApp>[0], env: Record<string, string> = {}) {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const built = await buildOAuthApp(t, { listen: true, env: { PORT: String(port), ISSUER: issuer, ...env } })
  await seedFixture(built.store)
  return { ...built, issuer }
}

for (const alg of ['ES256', 'EdDSA', 'RS256']) {
  t.test(`RFC 9068 §4 with jose: a ${alg} access token verifies against the served JWKS (typ at+jwt)`, async (t) => {
    const { issuer, config } = await listening(t, { SIGNING_ALG: alg })
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }))
    const client = { client_id: 'svc' }
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(FIXTURE.svcSecret), new URLSearchParams({ scope: 'reports' }), insecure)
    const tokens = await oauth.processClientCredentialsResponse(as, client, res)
    const jwks = createRemoteJWKSet(new URL(as.jwks_uri!))
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer, audience: config.AUDIENCE, typ: 'at+jwt', algorithms: [alg] })
    t.equal(protectedHeader.alg, alg)
    t.match(payload, { sub: 'client:svc', client_id: 'svc', scope: 'reports', iss: issuer, aud: 'portcullis' })
    await t.rejects(jwtVerify(tokens.access_token, jwks, { issuer, audience: config.AUDIENCE, typ: 'JWT' }), 'jose enforces typ too')
  })
}

t.test('jose after keys rotate: old-key and new-key tokens both verify through the remote JWKS', async (t) => {
  const { issuer, config, store, keys } = await listening(t)
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }))
  const client = { client_id: 'svc' }
  const get = async () => await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(FIXTURE.svcSecret), new URLSearchParams(), insecure))
  // jose refetches on an unknown kid, but at most once per cooldownDuration (default 30 s); this
  // test rotates right after the first fetch, so it opts out of the cooldown.
  const jwks = createRemoteJWKSet(new URL(as.jwks_uri!), { cooldownDuration: 0 })
  const old = await get()
  await jwtVerify(old.access_token, jwks, { issuer, audience: config.AUDIENCE, typ: 'at+jwt' }) // jose caches the one-key set
  await rotateKey(store, 'EdDSA', { maxTokenLifetime: 930 })
  await keys.refresh()
  const fresh = await get()
  t.match((await jwtVerify(fresh.access_token, jwks, { issuer, audience: config.AUDIENCE, typ: 'at+jwt' })).protectedHeader, { alg: 'EdDSA' }, 'unknown kid → jose refetches the JWKS')
  t.match((await jwtVerify(old.access_token, jwks, { issuer, audience: config.AUDIENCE, typ: 'at+jwt' })).protectedHeader, { alg: 'ES256' }, 'the retired key is still published')
})

t.test('oauth4webapi: RFC 8414 discovery, client credentials with ClientSecretBasic and ClientSecretPost', async (t) => {
  const { issuer } = await listening(t)
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }))
  t.equal(as.issuer, issuer)
  t.equal(as.token_endpoint, `${issuer}/oauth/token`)
  const client = { client_id: 'svc' }
  for (const [what, auth] of [['ClientSecretBasic', oauth.ClientSecretBasic(FIXTURE.svcSecret)], ['ClientSecretPost', oauth.ClientSecretPost(FIXTURE.svcSecret)]] as const) {
    const res = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: 'read' }), insecure)
    const tokens = await oauth.processClientCredentialsResponse(as, client, res)
    t.equal(tokens.token_type, 'bearer', `${what}: oauth4webapi lower-cases Bearer`)
    t.equal(tokens.scope, 'read', what)
    t.equal(tokens.refresh_token, undefined, `${what}: no refresh token`)
  }
  const wrong = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('wrong'), new URLSearchParams(), insecure)
  t.equal(wrong.status, 401)
  t.equal(wrong.headers.get('www-authenticate'), 'Basic realm="portcullis"')
  await t.rejects(oauth.processClientCredentialsResponse(as, client, wrong), { name: 'WWWAuthenticateChallengeError', cause: [{ scheme: 'basic', parameters: { realm: 'portcullis' } }] }, 'the challenge parses')
})

t.test('oauth4webapi: password (generic grant) → refresh → introspect → revoke', async (t) => {
  const { issuer } = await listening(t)
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }))
  const client = { client_id: 'web' }
  const auth = oauth.ClientSecretBasic(FIXTURE.webSecret)
  const login = await oauth.processGenericTokenEndpointResponse(as, client, await oauth.genericTokenEndpointRequest(as, client, auth, 'password', new URLSearchParams({ username: FIXTURE.user, password: FIXTURE.password }), insecure))
  t.ok(login.refresh_token)
  const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, login.refresh_token!, insecure))
  t.not(refreshed.refresh_token, login.refresh_token, 'rotated')
  const info = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, refreshed.access_token, insecure))
  t.match(info, { active: true, sub: 'alice', client_id: 'web', token_type: 'Bearer' })
  const revoked = await oauth.revocationRequest(as, client, auth, refreshed.refresh_token!, insecure)
  await oauth.processRevocationResponse(revoked)
  t.equal(revoked.status, 200)
  const after = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, refreshed.access_token, insecure))
  t.same(after, { active: false }, 'the session is gone')
})
