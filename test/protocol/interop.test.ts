// Interoperability with libraries we did not write (issue 3 "Done when"): jose verifies our access
// tokens against the served JWKS; oauth4webapi does discovery, client credentials (Basic and post),
// a generic password grant, refresh, introspection and revocation. Real listening server, real HTTP.
import t from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { rotateKey } from '../../src/oauth/keys.js'
import { buildOAuthApp, FIXTURE, seedFixture } from '../helpers/oauth.js'
import { freePort } from '../helpers/redis-server.js'

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
