// Signing key material: fresh key pairs as store records (kid = RFC 7638 thumbprint) and their public
// JWKs (RFC 7517 §4), which copy public members only. Also the order of a key set (oldest first).
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { byCreatedThenKid } from '../store/key-order.js'
import type { KeyRecord, SigningAlg } from '../store/types.js'

/** A public JWK as served in JWKS (RFC 7517 §4): never a private member. */
export interface PublicJwk {
  kty: string
  kid: string
  alg: SigningAlg
  use: 'sig'
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
}

/** A fresh key pair as a store record. kid = RFC 7638 JWK thumbprint of the public key. */
export function generateKeyRecord (alg: SigningAlg, now: () => number = Date.now): KeyRecord {
  const { privateKey, publicKey } = generatePair(alg)
  return {
    kid: thumbprint(publicKey),
    alg,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    createdAt: Math.floor(now() / 1000),
    retireAt: null
  }
}

function generatePair (alg: SigningAlg): { privateKey: KeyObject, publicKey: KeyObject } {
  switch (alg) {
    case 'ES256': return generateKeyPairSync('ec', { namedCurve: 'P-256' })
    case 'EdDSA': return generateKeyPairSync('ed25519')
    case 'RS256': return generateKeyPairSync('rsa', { modulusLength: 2048 })
  }
}

/** RFC 7638 §3: SHA-256 over the required members in lexicographic order, base64url. */
export function thumbprint (publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' })
  const required = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : jwk.kty === 'OKP'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
      : { e: jwk.e, kty: jwk.kty, n: jwk.n }
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url')
}

/** Only public members are copied, by name: a private `d`, `p`, `q`... can never slip through. */
export function toPublicJwk (publicKey: KeyObject, kid: string, alg: SigningAlg): PublicJwk {
  const jwk = publicKey.export({ format: 'jwk' })
  const out: PublicJwk = { kty: String(jwk.kty), kid, alg, use: 'sig' }
  if (jwk.crv !== undefined) out.crv = jwk.crv
  if (jwk.x !== undefined) out.x = jwk.x
  if (jwk.y !== undefined) out.y = jwk.y
  if (jwk.n !== undefined) out.n = jwk.n
  if (jwk.e !== undefined) out.e = jwk.e
  return out
}

export { byCreatedThenKid }

export function newest (records: KeyRecord[]): KeyRecord | undefined {
  return [...records].sort(byCreatedThenKid).at(-1)
}
