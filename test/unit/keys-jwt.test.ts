// signAccessToken / verifyAccessToken: RFC 9068 shape, RFC 8725 attacks (catalogue §2), never a foreign error.
import t from 'tap'
import fc from 'fast-check'
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { AccessTokenError, newJti, signAccessToken, verifyAccessToken, type AccessTokenClaims } from '../../src/oauth/jwt.js'
import { KeyRing } from '../../src/oauth/keys.js'
import { MemoryStore, type SigningAlg } from '../../src/store/index.js'

const quiet = { info () {}, warn () {}, error () {} }
const NOW_MS = 1_800_000_000_000 // frozen clock
const NOW = NOW_MS / 1000
const OPTS = { issuer: 'https://as.example', audience: 'portcullis', clockSkew: 30, now: () => NOW_MS }

function claims (over: Partial<Record<keyof AccessTokenClaims, unknown>> = {}): Record<string, unknown> {
  return { iss: OPTS.issuer, sub: 'alice', aud: 'portcullis', exp: NOW + 900, iat: NOW, jti: newJti(), client_id: 'web', scope: 'read', sid: 's1', ...over }
}

const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')

/** Signs any header/payload with `key` the way alg says (the attacker's toolbox). */
function craft (header: Record<string, unknown>, payload: unknown, key: KeyObject, alg: SigningAlg = 'ES256'): string {
  const input = `${b64(header)}.${b64(payload)}`
  const sig = alg === 'EdDSA'
    ? sign(null, Buffer.from(input), key)
    : sign('sha256', Buffer.from(input), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key)
  return `${input}.${sig.toString('base64url')}`
}

async function reason (ring: KeyRing, token: unknown, opts = OPTS): Promise<string> {
  try {
    await verifyAccessToken(ring, token, opts)
    return 'valid'
  } catch (err) {
    if (!(err instanceof AccessTokenError)) return `FOREIGN ERROR ${String(err)}`
    return err.reason
  }
}

for (const alg of ['ES256', 'EdDSA', 'RS256'] as SigningAlg[]) {
  t.test(`RFC 9068 §2.1/§2.2: ${alg} token has typ at+jwt, kid, required claims, and verifies`, async (t) => {
    const ring = await KeyRing.load(new MemoryStore(), { alg, logger: quiet, refreshIntervalMs: 0 })
    t.teardown(() => { ring.close() })
    const token = signAccessToken(ring, claims() as unknown as AccessTokenClaims)
    const [h, , s] = token.split('.') as [string, string, string]
    t.same(JSON.parse(Buffer.from(h, 'base64url').toString()), { alg, typ: 'at+jwt', kid: ring.signingKey().kid })
    if (alg === 'ES256') t.equal(Buffer.from(s, 'base64url').length, 64, 'RFC 7518 §3.4: ES256 signature is r||s, 64 bytes, not DER')
    const verified = await verifyAccessToken(ring, token, OPTS)
    t.match(verified, { sub: 'alice', client_id: 'web', scope: 'read', sid: 's1', exp: NOW + 900 })
  })
}

t.test('RFC 8725 / RFC 9068 §4: attack table → typed reasons, never anything else', async (t) => {
  const ring = await KeyRing.load(new MemoryStore(), { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { ring.close() })
  const { kid, privateKey } = ring.signingKey()
  const good = { alg: 'ES256', typ: 'at+jwt', kid }
  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pubPem = ring.verificationKey(kid)!.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const hsInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${b64(claims())}`
  const hsToken = `${hsInput}.${createHmac('sha256', pubPem).update(hsInput).digest('base64url')}`
  const valid = craft(good, claims(), privateKey)
  const [vh, vp, vs] = valid.split('.') as [string, string, string]

  const rows: Array<[string, unknown, string]> = [
    ['a correctly signed token is valid', valid, 'valid'],
    ['typ application/at+jwt is accepted (RFC 9068 §4)', craft({ ...good, typ: 'application/AT+JWT' }, claims(), privateKey), 'valid'],
    ['aud as an array containing AUDIENCE is accepted', craft(good, claims({ aud: ['other', 'portcullis'] }), privateKey), 'valid'],
    ['exp just inside the skew is accepted', craft(good, claims({ exp: NOW - 29 }), privateKey), 'valid'],
    ['alg none without signature (J01)', `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims())}.`, 'malformed'],
    ['alg none with signature', `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims())}.${vs}`, 'unsupported_alg'],
    ['alg NONE uppercase', `${b64({ alg: 'NONE', typ: 'at+jwt', kid })}.${b64(claims())}.${vs}`, 'unsupported_alg'],
    ['HS256 with the public key as HMAC secret (key confusion)', hsToken, 'unsupported_alg'],
    ['alg RS256 header on an ES256 key', `${b64({ ...good, alg: 'RS256' })}.${vp}.${vs}`, 'unsupported_alg'],
    ['alg missing', `${b64({ typ: 'at+jwt', kid })}.${vp}.${vs}`, 'unsupported_alg'],
    ['typ JWT (an ID-token-shaped token, RFC 8725 §3.11)', craft({ ...good, typ: 'JWT' }, claims(), privateKey), 'wrong_typ'],
    ['typ missing', craft({ alg: 'ES256', kid }, claims(), privateKey), 'wrong_typ'],
    ['crit header', craft({ ...good, crit: ['exp'] }, claims(), privateKey), 'crit_unsupported'],
    ['kid missing', craft({ alg: 'ES256', typ: 'at+jwt' }, claims(), privateKey), 'unknown_kid'],
    ['kid unknown', craft({ ...good, kid: 'nope' }, claims(), privateKey), 'unknown_kid'],
    ['kid as a number', craft({ ...good, kid: 7 }, claims(), privateKey), 'unknown_kid'],
    ['embedded jwk of the attacker key is ignored', craft({ ...good, jwk: attacker.publicKey.export({ format: 'jwk' }) }, claims(), attacker.privateKey), 'bad_signature'],
    ['jku / x5u pointing elsewhere is ignored', craft({ ...good, jku: 'https://evil.example/jwks', x5u: 'https://evil.example/x' }, claims(), attacker.privateKey), 'bad_signature'],
    ['signed by another key', craft(good, claims(), attacker.privateKey), 'bad_signature'],
    ['payload tampered after signing', `${vh}.${b64(claims({ sub: 'admin' }))}.${vs}`, 'bad_signature'],
    ['signature truncated', `${vh}.${vp}.${vs.slice(0, 40)}`, 'bad_signature'],
    ['non-canonical base64url signature (spare bits set)', `${vh}.${vp}.${vs.slice(0, -1)}${B64URL_ALPHABET[B64URL_ALPHABET.indexOf(vs.at(-1) ?? '') | 1]}`, 'bad_signature'],
    ['signature stripped', `${vh}.${vp}.`, 'malformed'],
    ['DER-encoded ES256 signature', `${vh}.${vp}.${sign('sha256', Buffer.from(`${vh}.${vp}`), privateKey).toString('base64url')}`, 'bad_signature'],
    ['JWE (five segments)', 'a.b.c.d.e', 'malformed'],
    ['two segments', `${vh}.${vp}`, 'malformed'],
    ['not base64url', `${vh}.${vp}.${vs}!`, 'malformed'],
    ['header not JSON', `${Buffer.from('{"alg":').toString('base64url')}.${vp}.${vs}`, 'malformed'],
    ['header is an array', `${b64(['ES256'])}.${vp}.${vs}`, 'malformed'],
    ['payload is an array (signed)', craft(good, [1, 2], privateKey), 'malformed'],
    ['payload is null (signed)', craft(good, null, privateKey), 'malformed'],
    ['token over 8 KiB', `${vh}.${b64({ pad: 'x'.repeat(9000) })}.${vs}`, 'malformed'],
    ['empty string', '', 'malformed'],
    ['not a string', 42, 'malformed'],
    ['undefined', undefined, 'malformed'],
    ['wrong issuer', craft(good, claims({ iss: 'https://evil.example' }), privateKey), 'wrong_issuer'],
    ['issuer with a trailing slash is not exact', craft(good, claims({ iss: 'https://as.example/' }), privateKey), 'wrong_issuer'],
    ['wrong audience', craft(good, claims({ aud: 'other' }), privateKey), 'wrong_audience'],
    ['audience array without ours', craft(good, claims({ aud: ['a', 'b'] }), privateKey), 'wrong_audience'],
    ['aud is a number', craft(good, claims({ aud: 1 }), privateKey), 'bad_claim'],
    ['exp as a string (catalogue 0.2)', craft(good, claims({ exp: String(NOW + 900) }), privateKey), 'bad_claim'],
    ['exp not an integer', craft(good, claims({ exp: NOW + 900.5 }), privateKey), 'bad_claim'],
    ['sub not a string', craft(good, claims({ sub: 1 }), privateKey), 'bad_claim'],
    ['sub empty', craft(good, claims({ sub: '' }), privateKey), 'bad_claim'],
    ['scope not a string', craft(good, claims({ scope: ['read'] }), privateKey), 'bad_claim'],
    ['expired beyond the skew', craft(good, claims({ exp: NOW - 30 }), privateKey), 'expired'],
    ['nbf in the future beyond the skew', craft(good, claims({ nbf: NOW + 31 }), privateKey), 'not_yet_valid'],
    ['iat in the future beyond the skew (catalogue 0.3)', craft(good, claims({ iat: NOW + 31 }), privateKey), 'issued_in_future']
  ]
  for (const name of ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id']) {
    rows.push([`required claim ${name} missing (RFC 9068 §2.2)`, craft(good, claims({ [name]: undefined }), privateKey), 'missing_claim'])
  }
  for (const [what, token, expected] of rows) t.equal(await reason(ring, token), expected, what)
})

t.test('AccessTokenError: code token_expired only for expiry, token_invalid otherwise', async (t) => {
  const ring = await KeyRing.load(new MemoryStore(), { alg: 'EdDSA', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { ring.close() })
  const expired = signAccessToken(ring, claims({ exp: NOW - 100, iat: NOW - 1000 }) as unknown as AccessTokenClaims)
  await t.rejects(verifyAccessToken(ring, expired, OPTS), { name: 'AccessTokenError', code: 'token_expired', reason: 'expired' })
  await t.rejects(verifyAccessToken(ring, 'x.y.z', OPTS), { name: 'AccessTokenError', code: 'token_invalid' })
})

t.test('a key added by another instance is found on first sight of its kid', async (t) => {
  const store = new MemoryStore()
  const a = await KeyRing.load(store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  const b = await KeyRing.load(store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { a.close(); b.close() })
  const { rotateKey } = await import('../../src/oauth/keys.js')
  await rotateKey(store, 'EdDSA', { maxTokenLifetime: 930 })
  await a.refresh()
  const token = signAccessToken(a, claims({ exp: Math.floor(Date.now() / 1000) + 900, iat: Math.floor(Date.now() / 1000) }) as unknown as AccessTokenClaims)
  t.match(await verifyAccessToken(b, token, { ...OPTS, now: Date.now }), { sub: 'alice' }, 'b had never seen the kid and still verifies')
})

t.test('property: any string, and any mutation of a valid token, rejects only with AccessTokenError', async (t) => {
  const ring = await KeyRing.load(new MemoryStore(), { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { ring.close() })
  const valid = signAccessToken(ring, claims() as unknown as AccessTokenClaims)
  let foreign = 0
  let accepted = 0
  await fc.assert(fc.asyncProperty(
    fc.oneof(
      fc.string(),
      fc.tuple(fc.nat(valid.length - 1), fc.string({ minLength: 1, maxLength: 3 })).map(([i, s]) => valid.slice(0, i) + s + valid.slice(i + 1)),
      fc.array(fc.base64String(), { minLength: 3, maxLength: 3 }).map((p) => p.join('.'))
    ),
    async (input) => {
      const r = await reason(ring, input)
      if (r.startsWith('FOREIGN')) foreign++
      if (r === 'valid' && input !== valid) accepted++
    }
  ), { numRuns: 2000 })
  t.equal(foreign, 0, 'no error other than AccessTokenError')
  t.equal(accepted, 0, 'no mutated token accepted')
})
