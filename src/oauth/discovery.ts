// GET /.well-known/oauth-authorization-server (RFC 8414 §3). REQUIRED members: issuer,
// authorization_endpoint and response_types_supported (`code` only, with PKCE S256, RFC 7636 §6.2,
// and `iss` in the response, RFC 9207 §3). token_endpoint, jwks_uri, grant types and auth methods as we implement them;
// scopes_supported (RECOMMENDED) is the union of the enabled clients' scopes, re-read at most once a minute.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { OAuthDeps } from './deps.js'
import { DPOP_ALGS } from './dpop.js'
import { GRANT_HANDLERS } from './token-endpoint.js'

export const OAUTH_PATHS = {
  token: '/oauth/token',
  revoke: '/oauth/revoke',
  introspect: '/oauth/introspect',
  jwks: '/.well-known/jwks.json',
  metadata: '/.well-known/oauth-authorization-server',
  authorize: '/oauth/authorize'
} as const

const SCOPES_TTL_MS = 60_000

export function discoveryEndpoint (deps: OAuthDeps) {
  const base = deps.config.issuer.replace(/\/+$/, '')
  const fixed = {
    issuer: deps.config.issuer,
    authorization_endpoint: base + OAUTH_PATHS.authorize,
    token_endpoint: base + OAUTH_PATHS.token,
    jwks_uri: base + OAUTH_PATHS.jwks,
    revocation_endpoint: base + OAUTH_PATHS.revoke,
    introspection_endpoint: base + OAUTH_PATHS.introspect,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    grant_types_supported: [...GRANT_HANDLERS.keys()],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    // introspection: confidential clients only (introspect.ts)
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    // RFC 9449 §5.1: the JWS algorithms accepted in DPoP proofs
    dpop_signing_alg_values_supported: [...DPOP_ALGS]
  }
  let scopes: { value: string[], at: number } | null = null

  async function scopesSupported (request: FastifyRequest): Promise<string[] | undefined> {
    const now = deps.now()
    if (scopes === null || now - scopes.at >= SCOPES_TTL_MS) {
      try {
        const clients = await deps.store.listClients()
        const all = new Set(clients.filter((c) => !c.disabled).flatMap((c) => c.scopes))
        scopes = { value: [...all].sort(), at: now }
      } catch (err) {
        // Metadata stays available without the store; the optional member is left out (or stale).
        request.log.warn({ err, reason: 'scopes_unavailable' }, 'metadata served without fresh scopes_supported')
        if (scopes === null) return undefined
      }
    }
    return scopes.value
  }

  return async function metadata (request: FastifyRequest, reply: FastifyReply): Promise<object> {
    reply.header('Cache-Control', 'public, max-age=300')
    const scopesSupportedValue = await scopesSupported(request)
    return { ...fixed, ...(scopesSupportedValue !== undefined && { scopes_supported: scopesSupportedValue }) }
  }
}
