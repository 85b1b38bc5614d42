// Signing keys: the KeyRing and its rotation, then access tokens signed and verified with them.
import t from 'tap'
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { calculateJwkThumbprint, type JWK } from 'jose'
import fc from 'fast-check'
import { KeyRing, listKeyInfo, type KeyLogger, rotateKey, UNKNOWN_KID_REFETCH_MS } from '../../src/oauth/keys.js'
import { MemoryStore, RedisStore, type KeyRecord, type SigningAlg, type Store } from '../../src/store/index.js'
import { startRedis } from '../helpers/redis-server.js'
import { AccessTokenError, newJti, signAccessToken, verifyAccessToken, type AccessTokenClaims } from '../../src/oauth/jwt.js'

// KeyRing, rotateKey, listKeyInfo (issue 3 point 4) against the memory store and a real Redis.

const quiet = { info () {}, warn () {}, error () {} }
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
const T0 = 1_800_000_000_000 // fixed clock, epoch ms

function recordingLogger (): { logger: KeyLogger, warnings: string[] } {
  const warnings: string[] = []
  return { logger: { info () {}, warn (_o: object, msg?: string) { warnings.push(msg ?? '') }, error () {} }, warnings }
}

for (const alg of ['ES256', 'EdDSA', 'RS256'] as SigningAlg[]) {
  t.test(`RFC 7517 §4 / RFC 7638: ${alg} JWKS members are public only, kid is the thumbprint`, async (t) => {
    const ring = await KeyRing.load(new MemoryStore(), { alg, logger: quiet, refreshIntervalMs: 0 })
    t.teardown(() => { ring.close() })
    const [jwk, ...rest] = ring.jwks()
    t.equal(rest.length, 0, 'one key')
    if (jwk === undefined) throw new Error('no key')
    t.match(jwk, { alg, use: 'sig', kid: String })
    for (const m of PRIVATE_MEMBERS) t.notOk(m in jwk, `no private member ${m}`)
    t.equal(jwk.kid, await calculateJwkThumbprint(jwk as JWK, 'sha256'), 'kid = RFC 7638 SHA-256 thumbprint')
    t.equal(ring.signingKey().kid, jwk.kid)
    t.equal(ring.signingKey().privateKey.type, 'private')
    t.equal(ring.verificationKey(jwk.kid)?.publicKey.type, 'public')
  })
}

t.test('first load creates one key; a later load reuses it; dev mode warns about an ephemeral key', async (t) => {
  const store = new MemoryStore()
  const { logger, warnings } = recordingLogger()
  const a = await KeyRing.load(store, { alg: 'ES256', logger, refreshIntervalMs: 0 })
  const b = await KeyRing.load(store, { alg: 'EdDSA', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { a.close(); b.close() })
  t.equal((await store.listKeys()).length, 1)
  t.equal(b.signingKey().kid, a.signingKey().kid, 'second instance signs with the first key')
  t.equal(b.signingKey().alg, 'ES256', 'an existing key keeps its alg')
  t.match(warnings.join('\n'), /ephemeral/i)
})

t.test('verificationKey of an unknown kid is null; refetch at most once per 5 s (no storm)', async (t) => {
  let now = T0
  const store = new MemoryStore()
  let reads = 0
  const counting = new Proxy(store, {
    get: (target, prop) => prop === 'listKeys'
      ? async () => { reads++; return await target.listKeys() }
      : (target as unknown as Record<string | symbol, unknown>)[prop] instanceof Function
          ? ((target as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[prop] as (...a: unknown[]) => unknown).bind(target)
          : (target as unknown as Record<string | symbol, unknown>)[prop]
  }) as Store
  const ring = await KeyRing.load(counting, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0, now: () => now })
  t.teardown(() => { ring.close() })
  const base = reads
  t.equal(ring.verificationKey('nope'), null)
  t.equal(ring.verificationKey('__proto__'), null)
  const results = await Promise.all(Array.from({ length: 50 }, async () => await ring.refreshForKid('nope')))
  t.same(new Set(results), new Set([false]))
  t.equal(reads - base, 1, '50 lookups of an unknown kid → one store read')
  now += UNKNOWN_KID_REFETCH_MS - 1
  await ring.refreshForKid('nope')
  t.equal(reads - base, 1, 'still within 5 s: no read')
  now += 1
  await ring.refreshForKid('nope')
  t.equal(reads - base, 2, 'after 5 s: one more read')
})

t.test('a corrupt key record is skipped, the others still work', async (t) => {
  const store = new MemoryStore()
  const ring = await KeyRing.load(store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  t.teardown(() => { ring.close() })
  const good = ring.signingKey().kid
  await store.addKey({ kid: 'bad', alg: 'ES256', privateKeyPem: 'x', publicKeyPem: 'not a pem', createdAt: 1, retireAt: null })
  await ring.refresh()
  t.equal(ring.signingKey().kid, good)
  t.equal(ring.verificationKey('bad'), null)
})

t.test('refresh keeps the current set when the store is down', async (t) => {
  const store = new MemoryStore()
  const ring = await KeyRing.load(store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
  const kid = ring.signingKey().kid
  await store.close()
  await t.rejects(ring.refresh())
  t.equal(await ring.refreshForKid('other'), false, 'refreshForKid never rejects')
  t.equal(ring.signingKey().kid, kid)
  ring.close()
})

t.test('keys rotate: new key signs at once, old one stays published until retireAt, then is pruned', async (t) => {
  let now = T0
  const clock = (): number => now
  const store = new MemoryStore({ now: clock })
  const ring = await KeyRing.load(store, { alg: 'ES256', logger: quiet, refreshIntervalMs: 0, now: clock })
  t.teardown(() => { ring.close() })
  const oldKid = ring.signingKey().kid
  const added = await rotateKey(store, 'EdDSA', { maxTokenLifetime: 930, now: clock })
  t.notOk('privateKeyPem' in (await listKeyInfo(store))[0]!, 'listKeyInfo has no key material')
  await ring.refresh()
  t.equal(ring.signingKey().kid, added.kid, 'the new key signs')
  t.equal(ring.signingKey().alg, 'EdDSA')
  t.same(ring.jwks().map((k) => k.kid), [added.kid, oldKid], 'JWKS lists both, newest first')
  t.ok(ring.verificationKey(oldKid), 'old key still verifies')

  const info = await listKeyInfo(store)
  const old = info.find((k) => k.kid === oldKid)
  t.equal(old?.retireAt, Math.floor(T0 / 1000) + 930 + 30, 'retireAt = now + max token lifetime + one refresh interval')
  t.same(info.map((k) => [k.kid, k.current]), [[oldKid, false], [added.kid, true]])

  now += 961_000 // past retireAt
  t.equal(ring.verificationKey(oldKid), null, 'past retireAt: no longer published')
  t.same(ring.jwks().map((k) => k.kid), [added.kid])
  const third = await rotateKey(store, 'ES256', { maxTokenLifetime: 930, now: clock })
  const kids = (await store.listKeys()).map((k: KeyRecord) => k.kid)
  t.notOk(kids.includes(oldKid), 'keys past retireAt are pruned on the next rotation')
  t.ok(kids.includes(added.kid) && kids.includes(third.kid))
})

t.test('Redis: concurrent first loads agree on one key (race-free creation)', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => { await redis.stop() })
  const stores = Array.from({ length: 6 }, () => new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'keys-race:' }))
  t.teardown(async () => { for (const s of stores) await s.close() })
  for (const s of stores) t.ok(await s.ready(3000), 'redis ready')
  const { logger, warnings } = recordingLogger()
  const rings = await Promise.all(stores.map(async (s) => await KeyRing.load(s, { alg: 'ES256', logger, refreshIntervalMs: 0 })))
  t.teardown(() => { for (const r of rings) r.close() })
  t.equal(new Set(rings.map((r) => r.signingKey().kid)).size, 1, 'every instance signs with the same kid')
  t.equal((await stores[0]!.listKeys()).length, 1, 'exactly one key stored')
  t.equal(warnings.length, 0, 'no dev-mode warning with Redis')
})

// signAccessToken / verifyAccessToken: RFC 9068 shape, RFC 8725 attacks (catalogue §2), never a foreign error.

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
