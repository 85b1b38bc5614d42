// The authenticate stage's DPoP part (RFC 9449 §7). A token bound to a key (`cnf.jkt`) passes only
// as `Authorization: DPoP <token>` with a valid proof of that key for this very request: htm, htu
// (the URL as the gateway sees it, src/oauth/dpop-request.ts), iat within DPOP_IAT_WINDOW, ath of
// the token, a nonce when DPOP_NONCE=1, and a jti never seen by any instance (claimed in the store).
// A bound token sent as Bearer is refused (§7.2); so is an unbound token sent as DPoP. Bearer
// requests with bearer tokens never reach this file beyond one property read.
import { ERRORS } from '../errors/codes.js'
import { GatewayError } from '../errors/gateway-error.js'
import { accessTokenHash, DPOP_ALGS, DpopError } from '../oauth/dpop.js'
import { checkRequestProof, freshNonce, proofHeader, type DpopSettings } from '../oauth/dpop-request.js'
import { StoreUnavailableError } from '../store/types.js'
import { MALFORMED, type BearerCredentials } from './bearer.js'
import { DEFAULT_RETRY_AFTER } from './check-revocation.js'
import type { Identity, PipelineContext } from './context.js'

export interface DpopEdge {
  /** `DPoP <token>` credentials (RFC 9449 §7.1): the token, null for another scheme, a problem when malformed. */
  parse(value: string): BearerCredentials
  /** Admits a verified token under its scheme: undefined (nothing to wait for), a promise, or a throw. */
  bind(ctx: PipelineContext, token: string, identity: Identity, dpopScheme: boolean): Promise<void> | undefined
}

const ALGS = DPOP_ALGS.join(' ')
const SCHEME = 'dpop'
const NO_PROOF_TOKEN = Object.freeze({ problem: 'DPoP scheme without a token' })

export function dpopEdge (settings: DpopSettings, realm: string): DpopEdge {
  const challenge = (error: string, description: string): string => `DPoP realm="${realm}", algs="${ALGS}", error="${error}", error_description="${description}"`

  function refuse (code: 'token_dpop_bound' | 'token_invalid' | 'dpop_proof_rejected' | 'dpop_nonce_missing', detail: string, headers: Record<string, string> = {}): GatewayError {
    const spec = ERRORS[code]
    return new GatewayError(code, { detail, headers: { 'www-authenticate': challenge(spec.error, spec.description), ...headers } })
  }

  async function prove (ctx: PipelineContext, token: string, identity: Identity): Promise<void> {
    try {
      const proof = proofHeader(ctx.request)
      // RFC 9449 §7.1: a DPoP-bound token needs its proof
      if (proof === undefined) throw new DpopError('missing')
      await checkRequestProof(ctx.request, proof, settings, { ath: accessTokenHash(token), jkt: identity.dpopJkt! })
    } catch (err) {
      if (err instanceof DpopError) {
        // RFC 9449 §9: the resource server's nonce, with the one to use (nonces are on and loaded here)
        // Stryker disable next-line LogicalOperator,StringLiteral: a 'nonce' failure implies a loaded nonce source
        if (err.reason === 'nonce') throw refuse('dpop_nonce_missing', 'nonce', { 'dpop-nonce': freshNonce(settings) ?? '' })
        throw refuse('dpop_proof_rejected', err.reason)
      }
      if (!(err instanceof StoreUnavailableError)) throw err
      // the replay check cannot be made without the store: 503, never a pass (fail closed)
      throw new GatewayError('store_unavailable', { cause: err, detail: 'DPoP proof check failed', headers: { 'retry-after': String(DEFAULT_RETRY_AFTER) } })
    }
    ctx.identity = identity
  }

  return {
    parse (value) {
      // the same syntax as Bearer (RFC 9449 §7.1, RFC 6750 §2.1): `DPoP` SP token, nothing more
      if (value.slice(0, SCHEME.length).toLowerCase() !== SCHEME) return null
      if (value.length === SCHEME.length) return NO_PROOF_TOKEN
      const separator = value.charCodeAt(SCHEME.length)
      if (separator === 9) return MALFORMED // a tab
      if (separator !== 32) return null // another scheme (DPoPx ...)
      const token = value.slice(SCHEME.length + 1)
      if (token === '' || /[ \t]/.test(token)) return MALFORMED
      return token
    },
    bind (ctx, token, identity, dpopScheme) {
      // called for the DPoP scheme or a bound token (a bearer token under Bearer never gets here)
      if (identity.dpopJkt === undefined) throw refuse('token_invalid', 'DPoP scheme with an unbound token')
      // RFC 9449 §7.2: a bound token presented as a bearer token is refused
      if (!dpopScheme) throw refuse('token_dpop_bound', 'DPoP-bound token sent as Bearer')
      return prove(ctx, token, identity)
    }
  }
}
