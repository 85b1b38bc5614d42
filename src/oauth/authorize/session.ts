// The hosted login's session: a random id in a signed cookie (@fastify/cookie, SESSION_SECRET),
// HttpOnly, SameSite=Lax, Secure when served over https, scoped to /oauth so it never travels to an
// upstream. The record lives in the store under the id's hash, so any instance serves it. A new id on
// every login (no session fixation). A session of a user disabled or revoked since (users revoke,
// users passwd) no longer counts (SECURITY.md W02).
import { createHash, randomBytes } from 'node:crypto'
import type {} from '@fastify/cookie' // request.cookies, reply.setCookie
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { LoginSessionRecord } from '../../store/types.js'
import { nowSeconds, type OAuthDeps } from '../deps.js'

export const COOKIE_PATH = '/oauth'

export function isHttps (request: FastifyRequest): boolean {
  return request.protocol === 'https'
}

/** `__Secure-` (RFC 6265bis §4.1.3.1) over https, where the browser then insists on Secure. */
export function sessionCookieName (request: FastifyRequest): string {
  return isHttps(request) ? '__Secure-portcullis-login' : 'portcullis-login'
}

export function cookieOptions (request: FastifyRequest): { path: string, httpOnly: true, sameSite: 'lax', secure: boolean } {
  return { path: COOKIE_PATH, httpOnly: true, sameSite: 'lax', secure: isHttps(request) }
}

const hashId = (id: string): string => createHash('sha256').update(id).digest('base64url')

/** The live session of this browser, or null. */
export async function readSession (deps: OAuthDeps, request: FastifyRequest): Promise<(LoginSessionRecord & { idHash: string }) | null> {
  const raw = request.cookies[sessionCookieName(request)]
  if (raw === undefined) return null
  const unsigned = request.unsignCookie(raw)
  if (!unsigned.valid || unsigned.value === null) return null
  const idHash = hashId(unsigned.value)
  const record = await deps.store.loginSessions.get(idHash)
  if (record === null || record.expiresAt <= nowSeconds(deps)) return null
  // the revocation state of the user: a disabled user, or a cut-off after the login, ends it
  const state = await deps.store.checkRevocation({ jti: 'login-session', sub: record.sub, clientId: '' })
  if (state.userDisabled || (state.userRevokedBefore !== null && record.authTime < state.userRevokedBefore)) return null
  return { ...record, idHash }
}

export async function startSession (deps: OAuthDeps, request: FastifyRequest, reply: FastifyReply, sub: string): Promise<void> {
  const id = randomBytes(32).toString('base64url')
  const now = nowSeconds(deps)
  await deps.store.loginSessions.put(hashId(id), { sub, authTime: now, expiresAt: now + deps.config.LOGIN_SESSION_TTL })
  reply.setCookie(sessionCookieName(request), id, { ...cookieOptions(request), signed: true, maxAge: deps.config.LOGIN_SESSION_TTL })
}

export async function endSession (deps: OAuthDeps, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const session = await readSession(deps, request)
  if (session !== null) await deps.store.loginSessions.delete(session.idHash)
  reply.clearCookie(sessionCookieName(request), cookieOptions(request))
}
