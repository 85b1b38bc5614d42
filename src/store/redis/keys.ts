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
//   <p>code:<codeHash>         hash    r = JSON AuthCodeRecord, u = "0"|"1" (used)       until the code expires (≤ 60 s);
//                                      once used, as long as the tokens it issued (the replay marker, SECURITY.md W01)
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
//   <p>epoch-writes            string  count of durable writes (the lost-write check, epoch.ts)
//
// Cluster (issue 11 item 3) uses the same names with a hash tag, so that every key a script or the
// per-request check reads together sits in one slot, and the rest spreads over the shards:
//   <p>user:{u:<name>}  <p>user-disabled:{u:<name>}  <p>revoked-before:{u:<name>}     one slot per user
//   <p>client:{c:<id>}  <p>client-disabled:{c:<id>}  <p>client-revoked-before:{c:<id>}  one slot per client
//   <p>session:{u:<name>}:<sid>  <p>user-sessions:{u:<name>}   a user's sessions and their index
//   <p>rt:{r:<hash>}  <p>rt-grace:{r:<hash>}  <p>once:{o:<id>}  <p>secret:{x:<name>}
//   <p>rt:{r:<hash>}  <p>code:{k:<hash>}  <p>login:{l:<hash>}  <p>revoked:jti:{j:<jti>}  <p>revoked:sid:{s:<sid>}
//   <p>counter:{n:<key>}  (one counter per key)   <p>{e}epoch, <p>{e}epoch-writes (unused on a Cluster)
//   <p>{<tag>}epoch: 256 copies of the epoch, one every 64 slots; <p>{e}epoch-shards: the epoch they were written for (epoch.ts)
//   <p>{<tag>}epoch-writes: one durable-write counter per master, in a slot that master serves (epoch.ts)
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
  refreshGrace(tokenHash: string): string
  /** A session hash; the user's name is part of the Cluster key (same slot as the user's index). */
  session(sub: string, sid: string): string
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
  epochWrites: string
  /** Cluster: the epoch copy in the slot of hash tag `tag` (epoch.ts). */
  shardEpoch(tag: string): string
  /** Cluster: the durable-write counter in the slot of hash tag `tag` (epoch.ts). */
  shardWrites(tag: string): string
  /** Cluster: the epoch the copies were last all written for (same slot as `epoch`). */
  epochShards: string
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
    refreshGrace: (tokenHash) => `${p}rt-grace:${tokenHash}`,
    session: (_sub, sid) => `${p}session:${sid}`,
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
    epochWrites: `${p}epoch-writes`,
    shardEpoch: (tag) => `${p}{${tag}}epoch`,
    shardWrites: (tag) => `${p}{${tag}}epoch-writes`,
    epochShards: `${p}epoch-shards`,
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
    refreshGrace: (tokenHash) => `${p}rt-grace:{r:${tokenHash}}`, // the old token's slot
    session: (sub, sid) => `${p}session:{u:${sub}}:${sid}`, // the user's slot: one script with the index
    userSessions: (sub) => `${p}user-sessions:{u:${sub}}`,
    once: (id) => `${p}once:{o:${id}}`,
    secret: (name) => `${p}secret:{x:${name}}`,
    revokedJti: (jti) => `${p}revoked:jti:{j:${jti}}`,
    revokedSid: (sid) => `${p}revoked:sid:{s:${sid}}`,
    revokedBefore: (sub) => `${p}revoked-before:{u:${sub}}`,
    clientRevokedBefore: (id) => `${p}client-revoked-before:{c:${id}}`,
    counter: (key) => `${p}counter:{n:${key}}`,
    keys: `${p}keys`,
    epoch: `${p}{e}epoch`,
    epochWrites: `${p}{e}epoch-writes`,
    shardEpoch: (tag) => `${p}{${tag}}epoch`,
    shardWrites: (tag) => `${p}{${tag}}epoch-writes`,
    epochShards: `${p}{e}epoch-shards`,
    revocations: `${p}revocations`,
    tagged: true
  }
}
