// Users and clients: the domain rules behind `portcullis users …` and `portcullis clients …`.
//
// Decisions (README "Users and clients"):
// - Usernames are case-insensitive: 1–64 of [A-Za-z0-9._@-], stored lowercased, so `Alice` and
//   `alice` are one identity (SECURITY.md T26). Every lookup goes through normalizeUserName, and the
//   password grant must do the same before reading the user or counting failed logins.
// - Client ids are exact (case-sensitive), 1–64 of [A-Za-z0-9._-]: they travel in HTTP Basic and
//   form bodies, so no `:`, `%`, `+` or space.
// - A confidential client's secret is 32 random bytes, base64url without padding (43 characters),
//   returned once by addClient / rotateClientSecret; only its bcrypt hash is stored.
// - Revocation cut-off, see userCutoff below. Clients get one too (disableClient), so enabling a
//   client again never revives the tokens it held before.
// - A changed password ends every session of the user (cut-off) unless keepSessions is asked for.
// - `introspect`: a confidential client allowed to introspect other clients' tokens (RFC 7662 §2.1).
//
// Every update is one atomic read-modify-write in the store (Store.updateUser / updateClient): two
// operators editing the same record at the same instant never lose a change, and a disable that
// races a secret rotation stays a disable. Slow work (bcrypt) happens before, never inside, the
// update. Creation is race-free too (ifAbsent).
import { randomBytes } from 'node:crypto'
import type { ClientRecord, Store, UserRecord } from '../store/types.js'
import { hashSecret } from './passwords.js'
import { checkRedirectUris, RedirectUriError } from './redirect-uri.js'

export type AccountErrorCode =
  | 'invalid_name' | 'invalid_scope' | 'invalid_grant' | 'invalid_client_type'
  | 'exists' | 'not_found' | 'invalid_redirect_uri'

/** A refused account operation; `message` is one line fit for the operator. */
export class AccountError extends Error {
  override readonly name = 'AccountError'
  constructor (readonly code: AccountErrorCode, message: string) {
    super(message)
  }
}

export const GRANTS = ['password', 'refresh_token', 'client_credentials', 'authorization_code'] as const
export type Grant = typeof GRANTS[number]

const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/
const CLIENT_ID = /^[A-Za-z0-9._-]{1,64}$/
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** The stored form of a username (lowercase); throws AccountError invalid_name when it breaks the rules. */
export function normalizeUserName (name: string): string {
  if (!USER_NAME.test(name)) {
    throw new AccountError('invalid_name', `invalid username ${JSON.stringify(name)}: use 1-64 characters of A-Z a-z 0-9 . _ @ -`)
  }
  return name.toLowerCase()
}

export function checkClientId (id: string): string {
  if (!CLIENT_ID.test(id)) {
    throw new AccountError('invalid_name', `invalid client id ${JSON.stringify(id)}: use 1-64 characters of A-Z a-z 0-9 . _ -`)
  }
  return id
}

/** Splits a space-separated scope string (or checks a list): RFC 6749 §3.3 tokens, duplicates dropped, order kept. */
export function parseScopes (input: string | readonly string[]): string[] {
  const tokens = typeof input === 'string' ? input.split(' ').filter((t) => t !== '') : input
  for (const t of tokens) {
    if (!SCOPE_TOKEN.test(t)) {
      throw new AccountError('invalid_scope', `invalid scope ${JSON.stringify(t)}: RFC 6749 §3.3 allows printable ASCII except space, " and \\`)
    }
  }
  return [...new Set(tokens)]
}

/** Splits a space-separated grant list; each must be one of GRANTS, at least one. */
export function parseGrants (input: string | readonly string[]): Grant[] {
  const tokens = typeof input === 'string' ? input.split(' ').filter((t) => t !== '') : input
  if (tokens.length === 0) throw new AccountError('invalid_grant', `no grant given: use some of ${GRANTS.join(' ')}`)
  for (const t of tokens) {
    if (!(GRANTS as readonly string[]).includes(t)) {
      throw new AccountError('invalid_grant', `unsupported grant ${JSON.stringify(t)}: use some of ${GRANTS.join(' ')}`)
    }
  }
  return [...new Set(tokens)] as Grant[]
}

/** What may be shown of a user: never the hash. */
export interface UserView { name: string; scopes: string[]; disabled: boolean; createdAt: number }
/** What may be shown of a client: never the secret hash. */
export interface ClientView { id: string; public: boolean; grants: string[]; scopes: string[]; disabled: boolean; introspect: boolean; dpop: 'required' | 'optional'; createdAt: number; redirectUris: string[]; consent: boolean }
/** A client's credentials; client_secret is null for a public client. Shown once. */
export interface ClientCredentials { client_id: string; client_secret: string | null }

export function userView (u: UserRecord): UserView {
  return { name: u.name, scopes: [...u.scopes], disabled: u.disabled, createdAt: u.createdAt }
}

export function clientView (c: ClientRecord): ClientView {
  return {
    id: c.id, public: c.secretHash === null, grants: [...c.grants], scopes: [...c.scopes], disabled: c.disabled,
    introspect: c.introspect === true, dpop: c.dpop ?? 'optional', createdAt: c.createdAt, redirectUris: [...c.redirectUris ?? []], consent: c.consent === true
  }
}

/** Clock in epoch milliseconds; tests pass a fixed one. */
export interface Clock { now?: () => number }

const seconds = (clock: Clock): number => Math.floor((clock.now ?? Date.now)() / 1000)

/**
 * The user revoked-before cut-off written at `nowMs`: the next whole second.
 * The edge and the token endpoint refuse a token (access or refresh) when `iat < cutoff`, so every
 * token issued up to and including the second of the revocation is refused, and tokens issued from
 * the following second on are accepted. A login in the very second of a revocation is thus refused
 * too (fail closed); the user logs in again a second later.
 */
export function userCutoff (nowMs: number): number {
  return Math.floor(nowMs / 1000) + 1
}

// users

async function requireUser (store: Store, name: string): Promise<UserRecord> {
  const key = normalizeUserName(name)
  const user = await store.getUser(key)
  if (user === null) throw new AccountError('not_found', `no user ${JSON.stringify(key)}`)
  return user
}

export async function getUser (store: Store, name: string): Promise<UserView> {
  return userView(await requireUser(store, name))
}

export async function addUser (
  store: Store,
  opts: { name: string; password: string; scopes: string | readonly string[]; cost: number } & Clock
): Promise<UserView> {
  const name = normalizeUserName(opts.name)
  const scopes = parseScopes(opts.scopes)
  const user: UserRecord = {
    name, passwordHash: await hashSecret(opts.password, opts.cost), scopes, disabled: false, createdAt: seconds(opts)
  }
  if (!await store.putUser(user, { ifAbsent: true })) {
    throw new AccountError('exists', `user ${JSON.stringify(name)} already exists`)
  }
  return userView(user)
}

/** One atomic change of the user (see the header); AccountError not_found when there is none. */
async function updateUser (store: Store, name: string, change: (u: UserRecord) => UserRecord, revokeBefore?: number): Promise<UserRecord> {
  const key = normalizeUserName(name)
  const user = await store.updateUser(key, change, revokeBefore === undefined ? {} : { revokeBefore })
  if (user === null) throw new AccountError('not_found', `no user ${JSON.stringify(key)}`)
  return user
}

/**
 * Sets a new password. Unless keepSessions, it also ends every session of the user in the same
 * atomic step (the revoked-before cut-off, see userCutoff): whoever knew the old password loses the
 * tokens they got with it. Resolves the cut-off written, or null when sessions were kept.
 */
export async function setPassword (
  store: Store, name: string, password: string, cost: number, opts: { keepSessions?: boolean } & Clock = {}
): Promise<UserView & { revokedBefore: number | null }> {
  await requireUser(store, name) // unknown user: no bcrypt work
  const passwordHash = await hashSecret(password, cost)
  const revokedBefore = opts.keepSessions === true ? null : userCutoff((opts.now ?? Date.now)())
  const user = await updateUser(store, name, (u) => ({ ...u, passwordHash }), revokedBefore ?? undefined)
  return { ...userView(user), revokedBefore }
}

export async function setUserScopes (store: Store, name: string, scopes: string | readonly string[]): Promise<UserView> {
  const parsed = parseScopes(scopes)
  return userView(await updateUser(store, name, (u) => ({ ...u, scopes: parsed })))
}

/**
 * Disables the user: logins are refused and their tokens are refused at once (checkRevocation reads
 * the flag). The same atomic step sets the revoked-before cut-off, so enabling the user later lets
 * them log in again but never brings their old sessions back.
 */
export async function disableUser (store: Store, name: string, clock: Clock = {}): Promise<UserView> {
  return userView(await updateUser(store, name, (u) => ({ ...u, disabled: true }), userCutoff((clock.now ?? Date.now)())))
}

export async function enableUser (store: Store, name: string): Promise<UserView> {
  return userView(await updateUser(store, name, (u) => ({ ...u, disabled: false })))
}

export async function listUsers (store: Store): Promise<UserView[]> {
  return (await store.listUsers()).map(userView)
}

/** Ends every session of the user: every token with `iat < revokedBefore` is refused (see userCutoff). */
export async function revokeUser (store: Store, name: string, clock: Clock = {}): Promise<{ name: string; revokedBefore: number }> {
  const user = await requireUser(store, name)
  const revokedBefore = userCutoff((clock.now ?? Date.now)())
  await store.revokeUserBefore(user.name, revokedBefore)
  return { name: user.name, revokedBefore }
}

// clients

/** 32 random bytes, base64url (43 characters, 256 bits): well under bcrypt's 72-byte limit. */
export function generateClientSecret (): string {
  return randomBytes(32).toString('base64url')
}

async function requireClient (store: Store, id: string): Promise<ClientRecord> {
  const client = await store.getClient(checkClientId(id))
  if (client === null) throw new AccountError('not_found', `no client ${JSON.stringify(id)}`)
  return client
}

export async function getClient (store: Store, id: string): Promise<ClientView> {
  return clientView(await requireClient(store, id))
}

export async function addClient (
  store: Store,
  opts: {
    id: string; grants: string | readonly string[]; scopes: string | readonly string[]; public: boolean; introspect?: boolean; cost: number
    redirectUris?: readonly string[]; consent?: boolean; dpop?: 'required' | 'optional'
  } & Clock
): Promise<ClientCredentials> {
  const id = checkClientId(opts.id)
  const grants = parseGrants(opts.grants)
  const scopes = parseScopes(opts.scopes)
  const redirectUris = redirectUrisFor(opts.redirectUris ?? [], grants)
  if (opts.public && grants.includes('client_credentials')) {
    // RFC 6749 §4.4: the client credentials grant is for confidential clients only
    throw new AccountError('invalid_client_type', 'a public client cannot have the client_credentials grant (RFC 6749 §4.4)')
  }
  if (opts.public && opts.introspect === true) {
    // RFC 7662 §2.1: the introspection endpoint requires client authentication; a public client has none
    throw new AccountError('invalid_client_type', 'a public client cannot introspect (RFC 7662 §2.1: it cannot authenticate)')
  }
  const secret = opts.public ? null : generateClientSecret()
  const client: ClientRecord = {
    id,
    secretHash: secret === null ? null : await hashSecret(secret, opts.cost),
    grants,
    scopes,
    disabled: false,
    ...(opts.introspect === true && { introspect: true }),
    ...(redirectUris.length > 0 && { redirectUris }),
    ...(opts.consent === true && { consent: true }),
    ...(opts.dpop === 'required' && { dpop: 'required' as const }), // RFC 9449 §5.2: never a bearer token
    createdAt: seconds(opts)
  }
  if (!await store.putClient(client, { ifAbsent: true })) {
    throw new AccountError('exists', `client ${JSON.stringify(id)} already exists`)
  }
  return { client_id: id, client_secret: secret }
}

/** The client's redirect URIs checked (redirect-uri.ts), refused as every account error is. */
export function redirectUrisFor (uris: readonly string[], grants: readonly string[]): string[] {
  try { return checkRedirectUris(uris, grants) } catch (err) { throw err instanceof RedirectUriError ? new AccountError('invalid_redirect_uri', err.message) : err }
}

/** One atomic change of the client (see the header); AccountError not_found when there is none. */
async function updateClient (store: Store, id: string, change: (c: ClientRecord) => ClientRecord, revokeBefore?: number): Promise<ClientRecord> {
  const client = await store.updateClient(checkClientId(id), change, revokeBefore === undefined ? {} : { revokeBefore })
  if (client === null) throw new AccountError('not_found', `no client ${JSON.stringify(id)}`)
  return client
}

const publicClient = (id: string): AccountError =>
  new AccountError('invalid_client_type', `client ${JSON.stringify(id)} is public: it has no secret`)

/** Replaces a confidential client's secret; the old one stops working at once. Leaves every other field (disabled too) as it is now. */
export async function rotateClientSecret (store: Store, id: string, cost: number): Promise<ClientCredentials & { client_secret: string }> {
  if ((await requireClient(store, id)).secretHash === null) throw publicClient(id) // before the bcrypt work
  const secret = generateClientSecret()
  const secretHash = await hashSecret(secret, cost)
  const client = await updateClient(store, id, (c) => {
    if (c.secretHash === null) throw publicClient(id)
    return { ...c, secretHash }
  })
  return { client_id: client.id, client_secret: secret }
}

/**
 * Disables the client: it cannot get tokens, and the tokens it holds are refused (checkRevocation
 * reads the flag). The same atomic step sets the client's revoked-before cut-off (userCutoff rule),
 * so enabling the client later never revives a token issued before the disable.
 */
export async function disableClient (store: Store, id: string, clock: Clock = {}): Promise<ClientView> {
  return clientView(await updateClient(store, id, (c) => ({ ...c, disabled: true }), userCutoff((clock.now ?? Date.now)())))
}

export async function enableClient (store: Store, id: string): Promise<ClientView> {
  return clientView(await updateClient(store, id, (c) => ({ ...c, disabled: false })))
}

export async function listClients (store: Store): Promise<ClientView[]> {
  return (await store.listClients()).map(clientView)
}
