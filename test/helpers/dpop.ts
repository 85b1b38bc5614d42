// DPoP proofs for tests (RFC 9449 §4): a client key and a proof factory that can get any part wrong.
import { randomUUID, createHash } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

export interface DpopKey { alg: string; privateKey: PrivateKey; jwk: JWK; jkt: string }

export async function dpopKey (alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) }
}

export interface ProofOptions {
  htm?: string
  htu: string
  /** Seconds from now. */
  iatOffset?: number
  jti?: string
  /** The access token whose hash goes into `ath`. */
  token?: string
  ath?: string
  nonce?: string
  typ?: string
  /** Header jwk override (e.g. with private members). */
  jwk?: JWK
  /** Claims to drop. */
  omit?: string[]
}

export const ath = (token: string): string => createHash('sha256').update(token).digest('base64url')

export async function proof (key: DpopKey, o: ProofOptions): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: o.jti ?? randomUUID(),
    htm: o.htm ?? 'GET',
    htu: o.htu,
    iat: Math.floor(Date.now() / 1000) + (o.iatOffset ?? 0),
    ...(o.token !== undefined && { ath: ath(o.token) }),
    ...(o.ath !== undefined && { ath: o.ath }),
    ...(o.nonce !== undefined && { nonce: o.nonce })
  }
  for (const c of o.omit ?? []) delete claims[c]
  return await new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: o.typ ?? 'dpop+jwt', jwk: o.jwk ?? key.jwk }).sign(key.privateKey)
}

/** The same key as a WebCrypto pair held by a client library (oauth4webapi's `DPoP(client, pair)`), for hand-made proofs. */
export async function dpopKeyOf (pair: Awaited<ReturnType<typeof generateKeyPair>>, alg = 'ES256'): Promise<DpopKey> {
  const jwk = await exportJWK(pair.publicKey)
  return { alg, privateKey: pair.privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) }
}
