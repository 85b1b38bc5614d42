// RFC 8414 metadata, RFC 7517 JWKS, and key rotation (issue 3 points 4 and 5).
import t from 'tap'
import { JWKS_CACHE_CONTROL } from '../../src/oauth/jwks.js'
import { rotateKey } from '../../src/oauth/keys.js'
import { MemoryStore } from '../../src/store/index.js'
import { basic, buildOAuthApp, decodeSegment, FIXTURE, passwordTokens, post, seedClient, seedFixture } from '../helpers/oauth.js'

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
