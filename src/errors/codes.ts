// Every error Portcullis answers with, in one table: HTTP status, the `error` value clients see
// (RFC 6749 §5.2 at the token endpoint, RFC 6750 §3.1 at the edge, our own names elsewhere),
// the public description, and the stable reason id used in logs.
// README "Error reference" is generated from the same table (test/unit/errors.test.ts keeps them in sync).

export interface ErrorSpec {
  status: number
  /** The `error` member of the JSON body. */
  error: string
  /** Default `error_description`: short, ASCII, no internals. */
  description: string
}

export const ERRORS = {
  // --- edge: routing (match stage)
  route_not_found: { status: 404, error: 'not_found', description: 'No route matches this path' },
  method_not_allowed: { status: 405, error: 'method_not_allowed', description: 'Method not allowed on this path' },
  bad_path: { status: 400, error: 'invalid_request', description: 'Ambiguous or malformed request path' },
  bad_request: { status: 400, error: 'invalid_request', description: 'Malformed request' },
  header_too_large: { status: 431, error: 'request_header_fields_too_large', description: 'Request header fields too large' },
  request_timeout: { status: 408, error: 'request_timeout', description: 'The request was not received in time' },
  payload_too_large: { status: 413, error: 'payload_too_large', description: 'Request body too large' },
  unsupported_media_type: { status: 415, error: 'unsupported_media_type', description: 'Unsupported content type' },

  // --- edge: authentication (RFC 6750 §3.1)
  token_missing: { status: 401, error: 'invalid_token', description: 'Missing bearer token' },
  token_invalid: { status: 401, error: 'invalid_token', description: 'The access token is invalid' },
  token_expired: { status: 401, error: 'invalid_token', description: 'The access token expired' },
  token_malformed_request: { status: 400, error: 'invalid_request', description: 'Malformed Authorization header' },
  revoked: { status: 401, error: 'invalid_token', description: 'The access token was revoked' },
  // RFC 9449 §7.1, §7.2, §9: DPoP at the edge
  token_dpop_bound: { status: 401, error: 'invalid_token', description: 'The access token is bound to a DPoP key: send it with the DPoP scheme and a proof' },
  dpop_proof_rejected: { status: 401, error: 'invalid_dpop_proof', description: 'The DPoP proof is invalid' },
  dpop_nonce_missing: { status: 401, error: 'use_dpop_nonce', description: 'A DPoP proof with a fresh server nonce is required' },
  scope_missing: { status: 403, error: 'insufficient_scope', description: 'The access token lacks a required scope' },
  rate_limited: { status: 429, error: 'rate_limited', description: 'Too many requests' },

  // --- edge: dependencies
  store_unavailable: { status: 503, error: 'temporarily_unavailable', description: 'The token store is unavailable; retry later' },
  upstream_unreachable: { status: 502, error: 'bad_gateway', description: 'The upstream service is unreachable' },
  upstream_timeout: { status: 504, error: 'gateway_timeout', description: 'The upstream service did not answer in time' },
  shutting_down: { status: 503, error: 'temporarily_unavailable', description: 'The gateway is shutting down' },
  not_ready: { status: 503, error: 'temporarily_unavailable', description: 'The gateway is not ready' },

  // --- token endpoint (RFC 6749 §5.2)
  invalid_request: { status: 400, error: 'invalid_request', description: 'The request is missing a parameter or is malformed' },
  invalid_client: { status: 401, error: 'invalid_client', description: 'Client authentication failed' },
  invalid_grant: { status: 400, error: 'invalid_grant', description: 'The grant is invalid, expired or revoked' },
  unauthorized_client: { status: 400, error: 'unauthorized_client', description: 'The client may not use this grant type' },
  unsupported_grant_type: { status: 400, error: 'unsupported_grant_type', description: 'Unsupported grant type' },
  invalid_scope: { status: 400, error: 'invalid_scope', description: 'The requested scope is invalid or exceeds what is allowed' },
  login_throttled: { status: 429, error: 'slow_down', description: 'Too many attempts; retry later' },
  // RFC 9449 §5, §8: DPoP at the token endpoint
  invalid_dpop_proof: { status: 400, error: 'invalid_dpop_proof', description: 'The DPoP proof is invalid' },
  use_dpop_nonce: { status: 400, error: 'use_dpop_nonce', description: 'A DPoP proof with a fresh server nonce is required' },

  // --- authorization endpoint and hosted login page (RFC 6749 §4.1.2.1: never redirected)
  unknown_client: { status: 400, error: 'invalid_request', description: 'Unknown or disabled client' },
  redirect_uri_invalid: { status: 400, error: 'invalid_request', description: 'The redirect_uri is missing or not registered for this client' },
  csrf_invalid: { status: 403, error: 'invalid_request', description: 'Missing or invalid CSRF token; reload the form and try again' },

  // --- anything else
  server_error: { status: 500, error: 'server_error', description: 'Internal error' }
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS
