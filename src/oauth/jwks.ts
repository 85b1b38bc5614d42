// GET /.well-known/jwks.json (RFC 7517 §5): the ring's published public keys with kid, alg, use.
//
// Cache-Control: public, max-age=300. Five minutes is safe because a verifier that meets an unknown
// kid refetches the set (jose's createRemoteJWKSet does; so does our KeyRing), so a new key never
// waits for a cache to expire, and a retired key stays published for ACCESS_TOKEN_TTL + CLOCK_SKEW +
// 30 s after rotation, so an older cached copy only ever has keys too many, never too few.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { KeyRing, PublicJwk } from './keys.js'

export const JWKS_CACHE_CONTROL = 'public, max-age=300'

/** The set is re-read from the store at most this often, so a `keys rotate` is published at once. */
const JWKS_REFRESH_MS = 1000

export function jwksEndpoint (keys: KeyRing) {
  let refreshedAt = -Infinity
  return async function jwks (_request: FastifyRequest, reply: FastifyReply): Promise<{ keys: PublicJwk[] }> {
    if (Date.now() - refreshedAt >= JWKS_REFRESH_MS) {
      refreshedAt = Date.now()
      try {
        await keys.refresh()
      } catch (err) {
        // store down: serve the set this instance holds; with none loaded yet, 503 (handler)
        if (keys.jwks().length === 0) throw err
      }
    }
    reply.header('Cache-Control', JWKS_CACHE_CONTROL)
    // RFC 7517 §8.5.1: application/jwk-set+json
    reply.type('application/jwk-set+json; charset=utf-8')
    return { keys: keys.jwks() }
  }
}
