// Property: any form body at the authorization server (random key/value pairs, repeated keys,
// random content types, random Basic credentials) gets an RFC 6749 §5.2 error or a token, never
// a 5xx; the same for /oauth/revoke and /oauth/introspect (issue 5 point 2; catalogue §3).
import fc from 'fast-check'
import t from 'tap'
import { basic, buildOAuthApp, FIXTURE, seedFixture } from '../helpers/oauth.js'
import { runs } from './settings.js'

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
