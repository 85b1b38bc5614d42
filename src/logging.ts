// pino options shared by the server and the CLI. One access-log line per request is written by
// app.ts (onResponse); secrets never reach a log: Authorization, Cookie, tokens and passwords
// are redacted wherever they appear, and URLs are logged without their query string.
import type { LoggerOptions } from 'pino'

export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["proxy-authorization"]',
  'headers.authorization', 'headers.cookie',
  'req.headers.dpop', 'headers.dpop', // RFC 9449 proofs: bound to one request, but no business of a log
  'res.headers["set-cookie"]',
  '*.password', '*.client_secret', '*.secret', '*.token', '*.access_token', '*.refresh_token',
  '*.privateKeyPem', '*.passwordHash', '*.secretHash'
]

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      // never the query string: it may carry an access_token (RFC 6750 §2.3, RFC 9700 §4.3)
      req: (req: { method?: string; url?: string; id?: string }) => ({
        method: req.method, path: (req.url ?? '').split('?', 1)[0], id: req.id
      })
    }
  }
}
