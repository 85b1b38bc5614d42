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
//   <p>revoked:jti:<jti>       string  "1"                                  until the token's expiresAt
//   <p>revoked:sid:<sid>       string  "1"                                  until expiresAt given
//   <p>revoked-before:<sub>    string  epoch seconds cut-off                no TTL (see redis-store.ts)
//   <p>client-revoked-before:<id>  string  epoch seconds cut-off (clients disable)  no TTL
//   <p>counter:<key>           string  integer count                        the counter's window
//   <p>keys                    hash    kid -> JSON KeyRecord                no TTL
//   <p>epoch                   string  the store epoch (SECURITY.md E01)     no TTL (SET NX once)
//   <p>revocations             pub/sub channel: one JSON RevocationEvent per revocation write
//   <p>epoch-writes            string  count of WAITed writes (Sentinel/standalone lost-write check, epoch.ts)
//
// Cluster (issue 11 item 3) uses the same names with a hash tag, so that every key a script or the
// per-request check reads together sits in one slot, and the rest spreads over the shards:
//   <p>user:{u:<name>}  <p>user-disabled:{u:<name>}  <p>revoked-before:{u:<name>}     one slot per user
//   <p>client:{c:<id>}  <p>client-disabled:{c:<id>}  <p>client-revoked-before:{c:<id>}  one slot per client
//   <p>rt:{r:<hash>}  <p>code:{k:<hash>}  <p>login:{l:<hash>}  <p>revoked:jti:{j:<jti>}  <p>revoked:sid:{s:<sid>}
//   <p>counter:{n:<key>}  (one counter per key)   <p>{e}epoch, <p>{e}epoch-writes   <p>{x:<tag>}epoch (one per shard, epoch.ts)
//   <p>users, <p>clients, <p>keys: single keys, each in its own slot
//   <p>revocations: a sharded pub/sub channel (SPUBLISH/SSUBSCRIBE) in its own slot
// Standalone and Sentinel keep the untagged names above: existing data needs no migration. A Cluster
// is a new data set (`redis-cli --cluster import` does not rename keys): start it empty.

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
  revokedJti(jti: string): string
  revokedSid(sid: string): string
  revokedBefore(sub: string): string
  clientRevokedBefore(id: string): string
  counter(key: string): string
  keys: string
  epoch: string
  epochWrites: string
  /** Cluster: the epoch copy in the slot of hash tag `tag` (one per shard, epoch.ts). */
  shardEpoch(tag: string): string
  revocations: string
  /** true: the Cluster layout (hash tags). */
  tagged: boolean
}

export function keyLayout (p: string, opts: { cluster?: boolean } = {}): KeyLayout {
  if (opts.cluster === true) return taggedLayout(p)
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
    revokedJti: (jti) => `${p}revoked:jti:${jti}`,
    revokedSid: (sid) => `${p}revoked:sid:${sid}`,
    revokedBefore: (sub) => `${p}revoked-before:${sub}`,
    clientRevokedBefore: (id) => `${p}client-revoked-before:${id}`,
    counter: (key) => `${p}counter:${key}`,
    keys: `${p}keys`,
    epoch: `${p}epoch`,
    epochWrites: `${p}epoch-writes`,
    shardEpoch: (tag) => `${p}{${tag}}epoch`,
    revocations: `${p}revocations`,
    tagged: false
  }
}

/**
 * The Cluster layout: the hash tag `{…}` holds the id, so a user's record, disabled flag and cut-off
 * share a slot (one script, one MGET), and so do a client's. The first `{…}` of a key decides its
 * slot: an id containing `}` only shortens the tag, the same way for every key of that id.
 */
function taggedLayout (p: string): KeyLayout {
  return {
    user: (name) => `${p}user:{u:${name}}`,
    userDisabled: (name) => `${p}user-disabled:{u:${name}}`,
    users: `${p}users`,
    client: (id) => `${p}client:{c:${id}}`,
    clientDisabled: (id) => `${p}client-disabled:{c:${id}}`,
    clients: `${p}clients`,
    refresh: (tokenHash) => `${p}rt:{r:${tokenHash}}`,
    code: (codeHash) => `${p}code:{k:${codeHash}}`,
    loginSession: (idHash) => `${p}login:{l:${idHash}}`,
    revokedJti: (jti) => `${p}revoked:jti:{j:${jti}}`,
    revokedSid: (sid) => `${p}revoked:sid:{s:${sid}}`,
    revokedBefore: (sub) => `${p}revoked-before:{u:${sub}}`,
    clientRevokedBefore: (id) => `${p}client-revoked-before:{c:${id}}`,
    counter: (key) => `${p}counter:{n:${key}}`,
    keys: `${p}keys`,
    epoch: `${p}{e}epoch`,
    epochWrites: `${p}{e}epoch-writes`,
    shardEpoch: (tag) => `${p}{${tag}}epoch`,
    revocations: `${p}revocations`,
    tagged: true
  }
}
