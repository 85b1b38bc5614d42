// DPoP at the token endpoint (RFC 9449 §5): a request with a valid proof gets an access token bound
// to the proof's key (`cnf.jkt`, token_type DPoP) and, for a public client, a refresh-token family
// bound to it too. A client registered with `--dpop required` never receives a bearer token.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../errors/gateway-error.js'
import type { ClientRecord } from '../store/types.js'
import { DpopError } from './dpop.js'
import { checkRequestProof, freshNonce, proofHeader, type DpopSettings } from './dpop-request.js'

/** The thumbprint of the request's proven DPoP key, or undefined without a proof. Refuses per RFC 9449 §5, §8. */
export async function tokenRequestProof (request: FastifyRequest, reply: FastifyReply, s: DpopSettings, client: ClientRecord): Promise<string | undefined> {
  const nonce = (): Record<string, string> => {
    const n = freshNonce(s)
    return n === null ? {} : { 'DPoP-Nonce': n }
  }
  try {
    const proof = proofHeader(request)
    if (proof === undefined) {
      // RFC 9449 §5.2 (dpop_bound_access_tokens): such a client never gets a bearer token
      if (client.dpop === 'required') throw new GatewayError('invalid_dpop_proof', { description: 'A DPoP proof is required for this client', detail: 'proof missing', headers: nonce() })
      return undefined
    }
    const verified = await checkRequestProof(request, proof, s)
    for (const [k, v] of Object.entries(nonce())) reply.header(k, v) // RFC 9449 §8.2: the next nonce
    return verified.jkt
  } catch (err) {
    if (!(err instanceof DpopError)) throw err
    // RFC 9449 §8: a missing or stale nonce is use_dpop_nonce, with the nonce to use
    if (err.reason === 'nonce') throw new GatewayError('use_dpop_nonce', { detail: 'nonce', headers: nonce() })
    throw new GatewayError('invalid_dpop_proof', { detail: err.reason, headers: nonce() }) // RFC 9449 §5
  }
}
