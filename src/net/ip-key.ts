// The one client-address key of every per-IP counter: the edge's `by: ip` rate limits
// (src/pipeline/rate-limit.ts) and the token endpoint's per-IP limit (src/oauth/login-throttle.ts)
// (SECURITY.md T30, H09). One function, so an IPv6 client cannot escape one of them by rotating
// addresses inside its /64 while the other groups them.
//
// - IPv4-mapped IPv6 (`::ffff:192.0.2.1`) counts as the IPv4 address;
// - IPv6 counts by its /64 (one subscriber usually holds a whole /64: RFC 6177 §3);
// - no address (the socket is already gone, request.ip undefined) or one that does not parse
//   counts under one fixed key, never a TypeError: such requests share one budget (fail closed).
import { normalizeIP } from '@fastify/rate-limit'

/** The key of requests whose address is unknown: all of them share one budget. */
export const UNKNOWN_IP_KEY = 'unknown'

export function ipKey (address: string | undefined): string {
  if (typeof address !== 'string' || address === '') return UNKNOWN_IP_KEY
  try {
    return normalizeIP(address, 64)
  } catch {
    return UNKNOWN_IP_KEY
  }
}
