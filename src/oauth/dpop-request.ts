// One DPoP proof per request (RFC 9449 §4.3 check 1), checked against the request as this gateway
// sees it, and claimed once in the store. Shared by the token endpoint (dpop-token.ts) and the
// edge (src/pipeline/dpop-proof.ts).
//
// The URL a proof's htu must name is the request's own: scheme, host and port from Fastify's
// request.protocol and request.host, which read X-Forwarded-Proto / X-Forwarded-Host only when
// the socket peer is a TRUST_PROXY proxy (otherwise: http, and the Host header); path as sent.
// Behind a TLS-terminating proxy, list it in TRUST_PROXY, or every https proof fails its htu.
import type { FastifyRequest } from 'fastify'
import type { Config } from '../config/env.js'
import type { Store } from '../store/types.js'
import { claimProof, DpopError, verifyDpopProof, type VerifiedProof } from './dpop.js'
import { DpopNonces } from './dpop-nonce.js'

export interface DpopSettings {
  store: Store
  /** DPOP_IAT_WINDOW, seconds. */
  iatWindow: number
  /** DPOP_NONCE=1: the nonce source every proof must use; null: nonces off. */
  nonces: DpopNonces | null
  /** Epoch milliseconds. */
  now: () => number
}

export function dpopSettings (config: Readonly<Config>, store: Store, now: () => number = Date.now): DpopSettings {
  return { store, iatWindow: config.DPOP_IAT_WINDOW, nonces: config.DPOP_NONCE === '1' ? new DpopNonces(store, config.DPOP_IAT_WINDOW) : null, now }
}

/** The request's DPoP header: undefined when absent; a DpopError when sent more than once. */
export function proofHeader (request: FastifyRequest): string | undefined {
  const value = request.headers.dpop
  if (value === undefined) return undefined
  let count = 0
  const raw = request.raw.rawHeaders
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'dpop') count++
  if (count !== 1 || typeof value !== 'string') throw new DpopError('malformed', 'more than one DPoP header')
  return value
}

/** The request's URL as the gateway sees it, without query (see the file comment). */
export function requestUrl (request: FastifyRequest): string {
  const url = request.url
  const q = url.indexOf('?')
  return `${request.protocol}://${request.host}${q === -1 ? url : url.slice(0, q)}`
}

/**
 * Verifies the proof for this request (at the edge also its `ath` and its key against the token's
 * `cnf.jkt`), then claims its jti; DpopError when refused, the store's error when it cannot answer.
 */
export async function checkRequestProof (request: FastifyRequest, proof: string, s: DpopSettings, bound?: { ath: string, jkt: string }): Promise<VerifiedProof> {
  const now = Math.floor(s.now() / 1000)
  const nonces = s.nonces
  if (nonces !== null) await nonces.ready()
  const verified = await verifyDpopProof(proof, {
    htm: request.method,
    htu: requestUrl(request),
    now,
    iatWindow: s.iatWindow,
    ...(bound !== undefined && { ath: bound.ath }),
    ...(nonces !== null && { nonceOk: (n: unknown) => nonces.check(n, now) })
  })
  // RFC 9449 §7.1: the proof's key must be the one the token is bound to
  if (bound !== undefined && verified.jkt !== bound.jkt) throw new DpopError('wrong_key')
  await claimProof(s.store, verified, now, s.iatWindow)
  return verified
}

/** A fresh nonce for a DPoP-Nonce response header, or null when nonces are off (or not loaded). */
export function freshNonce (s: DpopSettings): string | null {
  if (s.nonces === null) return null
  try {
    return s.nonces.issue(Math.floor(s.now() / 1000))
  } catch {
    return null // the secret is not loaded yet: the next proof check loads it
  }
}
