// Response headers of every hosted page (SECURITY.md W04 clickjacking, W05 injection):
// - CSP: nothing but our own stylesheet and forms; no script at all, no inline style;
//   form-action also names where the answer to a form may redirect (the client's redirect URI);
// - frame-ancestors 'none' and X-Frame-Options DENY: never inside a frame;
// - no-store: a page holding a CSRF token or a code is never cached; no referrer leaves the page.
import type { FastifyReply } from 'fastify'

export function pageHeaders (reply: FastifyReply, formTarget?: string): FastifyReply {
  const formAction = formTarget === undefined ? "'self'" : `'self' ${formTarget}`
  return reply
    .header('Content-Security-Policy', `default-src 'none'; style-src 'self'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`)
    .header('X-Frame-Options', 'DENY')
    .header('Cache-Control', 'no-store')
    .header('Pragma', 'no-cache')
    .header('Referrer-Policy', 'no-referrer')
    .header('X-Content-Type-Options', 'nosniff')
}
