// Key layout of the Redis store. Every key starts with the configured prefix
// (default `portcullis:`) so several deployments or test suites can share one server.
//
//   <p>user:<name>             string  JSON UserRecord                      no TTL
//   <p>user-disabled:<name>    string  "1" while the user is disabled       no TTL (deleted when enabled)
//   <p>users                   set     every user name (listUsers index)    no TTL
//   <p>client:<id>             string  JSON ClientRecord                    no TTL
//   <p>client-disabled:<id>    string  "1" while the client is disabled     no TTL (deleted when enabled)
//   <p>clients                 set     every client id (listClients index)  no TTL
//   <p>rt:<tokenHash>          hash    r = JSON RefreshTokenRecord, u = "0"|"1" (used)   until expiresAt
//   <p>code:<codeHash>         hash    r = JSON AuthCodeRecord, u = "0"|"1" (used)       until the code expires (≤ 60 s)
//   <p>login:<idHash>          string  JSON LoginSessionRecord              until the login session expires
//   <p>rt-grace:<tokenHash>    hash    s = successor key, c = sealed successor, k = DPoP key   REFRESH_GRACE
//   <p>session:<sid>           hash    SessionRecord fields (one per refresh family)   until the family expires
//   <p>user-sessions:<sub>     zset    sid -> expiry ms (the user's sessions)       until its last session expires
//   <p>once:<id>               string  "1": a one-time claim (DPoP proof jti)       the claim's ttl
//   <p>secret:<name>           string  a shared random secret (DPoP nonce key)      no TTL (SET NX once)
//   <p>revoked:jti:<jti>       string  "1"                                  until the token's expiresAt
//   <p>revoked:sid:<sid>       string  "1"                                  until expiresAt given
//   <p>revoked-before:<sub>    string  epoch seconds cut-off                no TTL (see redis-store.ts)
//   <p>client-revoked-before:<id>  string  epoch seconds cut-off (clients disable)  no TTL
//   <p>counter:<key>           string  integer count                        the counter's window
//   <p>keys                    hash    kid -> JSON KeyRecord                no TTL
//   <p>epoch                   string  the store epoch (SECURITY.md E01)     no TTL (SET NX once)
//   <p>revocations             pub/sub channel: one JSON RevocationEvent per revocation write

export interface KeyLayout {
  user(name: string): string
  userDisabled(name: string): string
  users: string
  client(id: string): string
  clientDisabled(id: string): string
  clients: string
  refresh(tokenHash: string): string
  code(codeHash: string): string
  loginSession(idHash: string): string
  refreshGrace(tokenHash: string): string
  session(sid: string): string
  userSessions(sub: string): string
  once(id: string): string
  secret(name: string): string
  revokedJti(jti: string): string
  revokedSid(sid: string): string
  revokedBefore(sub: string): string
  clientRevokedBefore(id: string): string
  counter(key: string): string
  keys: string
  epoch: string
  revocations: string
}

export function keyLayout (p: string): KeyLayout {
  return {
    user: (name) => `${p}user:${name}`,
    userDisabled: (name) => `${p}user-disabled:${name}`,
    users: `${p}users`,
    client: (id) => `${p}client:${id}`,
    clientDisabled: (id) => `${p}client-disabled:${id}`,
    clients: `${p}clients`,
    refresh: (tokenHash) => `${p}rt:${tokenHash}`,
    code: (codeHash) => `${p}code:${codeHash}`,
    loginSession: (idHash) => `${p}login:${idHash}`,
    refreshGrace: (tokenHash) => `${p}rt-grace:${tokenHash}`,
    session: (sid) => `${p}session:${sid}`,
    userSessions: (sub) => `${p}user-sessions:${sub}`,
    once: (id) => `${p}once:${id}`,
    secret: (name) => `${p}secret:${name}`,
    revokedJti: (jti) => `${p}revoked:jti:${jti}`,
    revokedSid: (sid) => `${p}revoked:sid:${sid}`,
    revokedBefore: (sub) => `${p}revoked-before:${sub}`,
    clientRevokedBefore: (id) => `${p}client-revoked-before:${id}`,
    counter: (key) => `${p}counter:${key}`,
    keys: `${p}keys`,
    epoch: `${p}epoch`,
    revocations: `${p}revocations`
  }
}
