// Properties of token input: any bearer token string at the edge, then any form body at the
// authorization server; never a 5xx.
import t from 'tap'
import fc from 'fast-check'
import { toIdentity } from '../../src/pipeline/authenticate.js'
import { verifyAccessToken } from '../../src/oauth/jwt.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { forge, foreignKey, ringHeader, userClaims, type ForgeKey } from '../helpers/tokens.js'
import { PRINTABLE, runs } from './settings.js'
import { basic, buildOAuthApp, FIXTURE, seedFixture } from '../helpers/oauth.js'

// Fixtures of the later sections, set up before any test is defined: tap ends the file's root test
// once it is idle, so no section may still be awaiting its setup when the tests above it finish.
// For the section "Property: any form body at the authorization server (random…":
const { app, store } = await buildOAuthApp(t, { env: { TOKEN_RATE_LIMIT: '1000000', LOGIN_MAX_FAILURES: '1000000' } })
await seedFixture(store)

const keyName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('grant_type', 'client_id', 'client_secret', 'username', 'password', 'scope', 'refresh_token', 'token', 'token_type_hint') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }
)
const value = fc.oneof(
  fc.constantFrom('password', 'client_credentials', 'refresh_token', 'PASSWORD', 'implicit', 'web', 'spa', 'svc', FIXTURE.user, FIXTURE.password,
    FIXTURE.webSecret, FIXTURE.svcSecret, 'read', 'read write', 'admin', '', 'a'.repeat(100)),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 })
)
/** Pairs url-encoded properly, or raw (unencoded `%`, `&`, `=`, unicode) for parser abuse. */
const wellFormed = fc.constantFrom(
  `grant_type=password&username=${FIXTURE.user}&password=${encodeURIComponent(FIXTURE.password)}&scope=read`,
  `grant_type=password&client_id=spa&username=${FIXTURE.user}&password=${encodeURIComponent(FIXTURE.password)}`,
  'grant_type=client_credentials&scope=read', 'grant_type=client_credentials', 'token=abc&token_type_hint=refresh_token'
)
const formBody = fc.oneof(
  fc.tuple(wellFormed, fc.array(fc.tuple(keyName, value), { maxLength: 2 })).map(([base, extra]) =>
    [base, ...extra.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)].join('&')),
  fc.array(fc.tuple(keyName, value), { maxLength: 8 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
  fc.array(fc.tuple(keyName, value), { maxLength: 8 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
  fc.string({ unit: 'binary', maxLength: 200 })
)
const contentType = fc.oneof(
  { weight: 4, arbitrary: fc.constant('application/x-www-form-urlencoded') },
  { weight: 2, arbitrary: fc.constantFrom('application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED', 'application/json',
    'multipart/form-data; boundary=x', 'text/plain', 'application/x-www-form-urlencoded; charset=latin1', 'application/x-www-form-urlencoded;;', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) }
)
const authorization = fc.option(fc.oneof(
  fc.constantFrom(basic('web', FIXTURE.webSecret), basic('svc', FIXTURE.svcSecret), basic('svc', FIXTURE.svcSecret), basic('web', FIXTURE.webSecret), basic('web', 'wrong'), 'Basic', 'Basic !!!', 'basic ' + Buffer.from('web:').toString('base64'), 'Bearer x'),
  fc.string({ maxLength: 30 }).map((s) => 'Basic ' + Buffer.from(s).toString('base64'))
), { nil: undefined })

const request = fc.record({
  url: fc.constantFrom('/oauth/token', '/oauth/token', '/oauth/token', '/oauth/revoke', '/oauth/introspect'),
  query: fc.constantFrom('', '', '?client_secret=x', '?a=1', '?password=x&x=%zz'),
  contentType,
  body: formBody,
  authorization
})

// Property: any bearer token string at the edge (random base64url segments, random JSON headers and
// claims, signed with the gateway's own key, a foreign one, HMAC, or not at all) gets a 400 or 401,
// never a 5xx; a 200 only when the token is genuinely valid (issue 5 point 2; catalogue §2).

const echo = await startEchoUpstream()
t.teardown(() => echo.close())
const gw = await startTestGateway(t, {
  routes: `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /api/*
    upstream: echo
`
})
const foreign = foreignKey(gw.keys)
const kid = gw.keys.signingKey().kid

/** Whether the gateway's own rules accept the token (the oracle for the rare valid forgery). */
async function genuinelyValid (token: string): Promise<boolean> {
  try {
    const claims = await verifyAccessToken(gw.keys, token, { issuer: gw.config.issuer, audience: gw.config.AUDIENCE, clockSkew: gw.config.CLOCK_SKEW })
    return toIdentity(claims) !== null
  } catch {
    return false
  }
}

async function send (token: string): Promise<{ status: number; body: string; challenge: string | null }> {
  const res = await fetch(`${gw.url}/api/x`, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, body: await res.text(), challenge: res.headers.get('www-authenticate') }
}

async function check (token: string): Promise<void> {
  const res = await send(token)
  if (res.status === 200) {
    if (!await genuinelyValid(token)) throw new Error(`200 for an invalid token ${token}`)
    return
  }
  if (res.status !== 400 && res.status !== 401) throw new Error(`status ${res.status} for ${JSON.stringify(token)}: ${res.body}`)
  const body = JSON.parse(res.body) as { error?: unknown }
  if (body.error !== (res.status === 400 ? 'invalid_request' : 'invalid_token')) throw new Error(`body ${res.body}`)
  if (res.challenge === null || !res.challenge.startsWith('Bearer realm="portcullis"')) throw new Error(`challenge ${res.challenge}`)
}

const b64url = fc.stringMatching(/^[A-Za-z0-9_-]{0,80}$/)
const tokenChars = fc.string({ unit: fc.constantFrom(...PRINTABLE.filter((c) => c !== ' ')), maxLength: 200 })

const alg = fc.oneof(fc.constantFrom('ES256', 'EdDSA', 'RS256', 'none', 'HS256', 'es256', 'ES384', ''), fc.jsonValue({ maxDepth: 1 }))
const header = fc.oneof(
  fc.record({
    alg,
    typ: fc.oneof(fc.constantFrom('at+jwt', 'AT+JWT', 'application/at+jwt', 'JWT', ''), fc.jsonValue({ maxDepth: 1 })),
    kid: fc.oneof(fc.constant(kid), fc.constantFrom('', '../../etc/passwd', '__proto__', 'constructor'), fc.string(), fc.jsonValue({ maxDepth: 1 })),
    crit: fc.jsonValue({ maxDepth: 1 }),
    jku: fc.constant('http://127.0.0.1:1/jwks'),
    extra: fc.jsonValue({ maxDepth: 2 })
  }, { requiredKeys: [] }),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.constant(ringHeader(gw.keys))
)
const claimOverride = fc.dictionary(
  fc.oneof(fc.constantFrom('iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'scope', 'sid', '__proto__'), fc.string({ maxLength: 8 })),
  fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }), fc.string(), fc.integer(), fc.double()),
  { maxKeys: 4 }
)
const payload = fc.oneof(
  { weight: 3, arbitrary: claimOverride.map((over) => userClaims(gw.config, over) as unknown as Record<string, unknown>) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) }
)
const key: fc.Arbitrary<ForgeKey> = fc.oneof(
  fc.constant<ForgeKey>({ kind: 'ring' }),
  fc.constant<ForgeKey>({ kind: 'none' }),
  fc.constant<ForgeKey>({ kind: 'private', key: foreign.key, alg: foreign.alg }),
  fc.string({ maxLength: 20 }).map((secret): ForgeKey => ({ kind: 'hmac', secret })),
  b64url.map((signature): ForgeKey => ({ kind: 'raw', signature }))
)
const forged = fc.record({ header, payload, key }).map((o) => forge(gw.keys, o as Parameters<typeof forge>[1]))

t.test('random base64url segments', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(b64url, { minLength: 1, maxLength: 5 }).map((s) => s.join('.')), check), runs(100))
  t.pass('every answer was 400/401 (or 200 for a genuinely valid token)')
})

t.test('random printable strings as the token', async (t) => {
  await fc.assert(fc.asyncProperty(tokenChars, check), runs(100))
  t.pass('every answer was 400/401')
})

t.test('forged JWS: random headers and claims, signed by the ring, a foreign key, HMAC, none or garbage', async (t) => {
  let valid = 0
  await fc.assert(fc.asyncProperty(forged, async (token) => {
    await check(token)
    if (await genuinelyValid(token)) valid++
  }), runs(200))
  t.pass(`every answer was 400/401, or 200 for the ${valid} genuinely valid forgeries (ring-signed with good claims)`)
})

// Property: any form body at the authorization server (random key/value pairs, repeated keys,
// random content types, random Basic credentials) gets an RFC 6749 §5.2 error or a token, never
// a 5xx; the same for /oauth/revoke and /oauth/introspect (issue 5 point 2; catalogue §3).
// Its fixtures are set up at the top of this file.

t.test('any form body, content type and credentials: never a 5xx, always a JSON error or a success', async (t) => {
  const statuses = new Map<number, number>()
  await fc.assert(fc.asyncProperty(request, async (r) => {
    const headers: Record<string, string> = {}
    // light-my-request refuses header values Node would refuse; those never reach us anyway
    if (/^[\t\x20-\x7e]*$/.test(r.contentType)) headers['content-type'] = r.contentType
    if (r.authorization !== undefined && /^[\t\x20-\x7e]*$/.test(r.authorization)) headers.authorization = r.authorization
    const res = await app.inject({ method: 'POST', url: r.url + r.query, headers, payload: r.body })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${JSON.stringify(r)}: ${res.body}`)
    if (res.statusCode >= 400) {
      const body = res.json() as { error?: unknown }
      if (typeof body.error !== 'string') throw new Error(`no error member: ${res.body}`)
    }
    if (res.headers['cache-control'] !== 'no-store') throw new Error('missing Cache-Control: no-store (RFC 6749 §5.1)')
  }), runs(200))
  t.ok([...statuses.keys()].every((s) => s < 500), `statuses seen: ${JSON.stringify(Object.fromEntries(statuses))}`)
})
