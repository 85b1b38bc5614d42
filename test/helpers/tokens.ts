// A token factory for edge tests: well-formed access tokens from the gateway's own key ring, and
// forged or malformed ones with full control over header, payload bytes, key and signature.
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import type { Config } from '../../src/config/env.js'
import { newJti, signAccessToken, type AccessTokenClaims } from '../../src/oauth/jwt.js'
import type { KeyRing } from '../../src/oauth/keys.js'
import { thumbprint } from '../../src/oauth/key-material.js'

export const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url')
export const b64json = (v: unknown): string => b64(JSON.stringify(v))

/** The store epoch of the gateway built with a config (SECURITY.md E02), read when claims are made. */
const storeEpochs = new WeakMap<object, () => string | null>()

/** Claims made by userClaims(config) carry `sep`, the current epoch of that gateway's store. */
export function registerStoreEpoch (config: Readonly<Config>, epoch: () => string | null): void {
  storeEpochs.set(config, epoch)
}

/** The claims of a good user access token for `config`; `over` replaces or (with undefined) removes members. */
export function userClaims (config: Readonly<Config>, over: Record<string, unknown> = {}): AccessTokenClaims {
  const now = Math.floor(Date.now() / 1000)
  const claims: Record<string, unknown> = {
    iss: config.issuer,
    sub: 'alice',
    aud: config.AUDIENCE,
    exp: now + 900,
    iat: now,
    jti: newJti(),
    client_id: 'mobile',
    scope: 'read',
    sid: `sid-${newJti()}`
  }
  const sep = storeEpochs.get(config)?.()
  if (typeof sep === 'string') claims.sep = sep
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete claims[k]
    else claims[k] = v
  }
  return claims as unknown as AccessTokenClaims
}

/** A client_credentials token: sub `client:<id>`, no session. */
export function clientClaims (config: Readonly<Config>, clientId: string, over: Record<string, unknown> = {}): AccessTokenClaims {
  return userClaims(config, { sub: `client:${clientId}`, client_id: clientId, sid: undefined, ...over })
}

/** Signs real claims exactly as the token endpoint does. */
export function mint (keys: KeyRing, claims: AccessTokenClaims): string {
  return signAccessToken(keys, claims)
}

export type ForgeKey =
  | { kind: 'ring' } // the gateway's current signing key (a validly signed forgery)
  | { kind: 'private'; key: KeyObject; alg: 'ES256' | 'EdDSA' | 'RS256' } // a foreign key
  | { kind: 'hmac'; secret: string | Buffer; hash?: 'sha256' | 'sha384' | 'sha512' }
  | { kind: 'none' } // empty signature
  | { kind: 'raw'; signature: string } // exactly this third segment

export interface ForgeOptions {
  /** An object (serialised) or raw JSON text / bytes (for duplicate members, non-objects, bad UTF-8 ...). */
  header: Record<string, unknown> | string | Buffer
  payload: Record<string, unknown> | AccessTokenClaims | string | Buffer | unknown[] | number | null
  key: ForgeKey
}

const raw = (v: unknown): string | Buffer => typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v)

/** Builds `b64(header).b64(payload).signature` with complete control over every byte. */
export function forge (keys: KeyRing, o: ForgeOptions): string {
  const h = b64(raw(o.header))
  const p = b64(raw(o.payload))
  const input = `${h}.${p}`
  return `${input}.${signature(keys, o.key, input)}`
}

function signature (keys: KeyRing, k: ForgeKey, input: string): string {
  switch (k.kind) {
    case 'none': return ''
    case 'raw': return k.signature
    case 'hmac': return createHmac(k.hash ?? 'sha256', k.secret).update(input).digest('base64url')
    case 'ring': {
      const sk = keys.signingKey()
      return signWith(sk.privateKey, sk.alg, input)
    }
    case 'private': return signWith(k.key, k.alg, input)
  }
}

function signWith (key: KeyObject, alg: 'ES256' | 'EdDSA' | 'RS256', input: string): string {
  const data = Buffer.from(input)
  if (alg === 'EdDSA') return sign(null, data, key).toString('base64url')
  if (alg === 'ES256') return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
  return sign('sha256', data, key).toString('base64url')
}

/** The header the gateway itself writes for its current key. */
export function ringHeader (keys: KeyRing, over: Record<string, unknown> = {}): Record<string, unknown> {
  const sk = keys.signingKey()
  const h: Record<string, unknown> = { alg: sk.alg, typ: 'at+jwt', kid: sk.kid }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete h[k]
    else h[k] = v
  }
  return h
}

const foreignPairs = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>()

/**
 * A key pair the gateway has never seen, of the ring's algorithm. One pair per algorithm and test
 * process: no test publishes it, so it stays foreign to every ring, and an RSA-2048 pair costs
 * ~0.1–0.3 s of CPU to generate (a table of forgeries used to make one per row).
 */
export function foreignKey (keys: KeyRing): { key: KeyObject; publicKey: KeyObject; alg: 'ES256' | 'EdDSA' | 'RS256' } {
  const alg = keys.signingKey().alg
  let pair = foreignPairs.get(alg)
  if (pair === undefined) {
    pair = alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048 })
    foreignPairs.set(alg, pair)
  }
  if (keys.verificationKey(thumbprint(pair.publicKey)) !== null) throw new Error('the foreign key was published: not foreign any more')
  return { key: pair.privateKey, publicKey: pair.publicKey, alg }
}

/** The public key of the ring's current signing key, as PEM (for algorithm-confusion forgeries). */
export function ringPublicPem (keys: KeyRing): string {
  const sk = keys.signingKey()
  const pub = keys.verificationKey(sk.kid)
  if (pub === null) throw new Error('signing key is not published')
  return pub.publicKey.export({ type: 'spki', format: 'pem' }).toString()
}
