// Every read-modify-write of the Redis store is one Lua script: Redis runs a script
// atomically, so no other client's command can slip between its read and its write.
// Registered with defineCommand, so ioredis sends EVALSHA (and falls back to EVAL once
// after a restart flushed the script cache). Scripts of users and clients live in
// account-scripts.ts, the refresh rotation in refresh-scripts.ts.
import { updateRecord } from './account-scripts.js'
import { consumeWithGrace, recordSession, rotateRefresh } from './refresh-scripts.js'

export interface ScriptDefinition { numberOfKeys: number; lua: string }

/**
 * KEYS[1] record, KEYS[2] disabled flag; ARGV[1] JSON, ARGV[2] disabled "1"|"0", ARGV[3] ifAbsent "1"|"0",
 * ARGV[4] feed channel ('' on a Cluster: the store SPUBLISHes after the script), ARGV[5] feed event.
 * The list index (SADD) is written by the store just before: on a Cluster it lives in another slot.
 */
export const putRecord: ScriptDefinition = {
  numberOfKeys: 2,
  lua: `
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then -- ifAbsent: SET NX semantics
  return 0                                                     -- the record exists: write nothing
end
redis.call('SET', KEYS[1], ARGV[1])                            -- the record itself, no TTL
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], '1')                              -- disabled: flag read by checkRevocation's MGET
else
  redis.call('DEL', KEYS[2])                                   -- enabled: no flag
end
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[5])                      -- replicated revocation: the disabled flag
end
return 1
`
}

/** KEYS[1] refresh-token hash; ARGV[1] JSON record, ARGV[2] milliseconds until expiresAt. */
export const putRefresh: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
redis.call('DEL', KEYS[1])                                     -- start from a clean hash
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'u', '0')            -- the record, not used yet
redis.call('PEXPIRE', KEYS[1], ARGV[2])                        -- lives exactly until the token expires
return 1
`
}

/**
 * KEYS[1] refresh-token or code hash; ARGV[1] (codes) milliseconds a first use keeps the key, 0: its
 * TTL stays. Returns nil (unknown) or {used "0"|"1", JSON record}.
 */
export const consumeRefresh: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local state = redis.call('HMGET', KEYS[1], 'u', 'r')          -- previous used flag and the record
if not state[2] then                                           -- no record: unknown or expired
  return nil
end
redis.call('HSET', KEYS[1], 'u', '1')                          -- mark used; HSET keeps the TTL (until expiresAt)
local keep = tonumber(ARGV[1] or '0')                          -- a code: how long its tokens live; else 0
if keep > 0 and state[1] ~= '1' then                           -- the first use of a code
  if keep > redis.call('PTTL', KEYS[1]) then                   -- never shorten
    redis.call('PEXPIRE', KEYS[1], keep)                       -- kept, used, so a later replay is seen
  end
end
return state                                                   -- the state before this consume
`
}

/** KEYS[1] marker; ARGV[1] milliseconds it must live, ARGV[2] feed channel ('' on a Cluster), ARGV[3] feed event. Never shortens an existing marker. */
export const revokeUntil: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local left = redis.call('PTTL', KEYS[1])                       -- -2 absent, -1 no TTL, else ms left
if left == -1 or left >= tonumber(ARGV[1]) then                -- already revoked at least as long
  return 0
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])                 -- revoked until the guarded token expires
if ARGV[2] ~= '' then                                          -- '' on a Cluster: SPUBLISH by the store
  redis.call('PUBLISH', ARGV[2], ARGV[3])                      -- replicated revocation: tell every instance
end
return 1
`
}

/** KEYS[1] cut-off; ARGV[1] epoch seconds, ARGV[2] feed channel ('' on a Cluster), ARGV[3] feed event. The cut-off only ever moves forward. */
export const revokeBefore: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local current = redis.call('GET', KEYS[1])                     -- false when never set
if current and tonumber(current) >= tonumber(ARGV[1]) then     -- an equal or later cut-off is in place
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])                            -- no TTL: see redis-store.ts
if ARGV[2] ~= '' then                                          -- '' on a Cluster: SPUBLISH by the store
  redis.call('PUBLISH', ARGV[2], ARGV[3])                      -- replicated revocation: tell every instance
end
return 1
`
}

/** KEYS[1] counter; ARGV[1] hits to add (≥ 1), ARGV[2] window in ms. Returns {count, ms until the window resets}. */
export const addCounter: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])           -- count after these hits; creates the key
local ttl = redis.call('PTTL', KEYS[1])                        -- -1 when the key has no expiry yet
if count == tonumber(ARGV[1]) or ttl == -1 then                -- first hits (or a key left without TTL)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])                      -- starts the fixed window
  ttl = tonumber(ARGV[2])
end
return {count, ttl}
`
}

/** KEYS[1] keys hash; ARGV[1] kid, ARGV[2] JSON, ARGV[3] onlyIfEmpty "1"|"0". Returns 1 when added. */
export const addKey: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
if ARGV[3] == '1' and redis.call('HLEN', KEYS[1]) > 0 then    -- onlyIfEmpty: another instance won the race
  return 0
end
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])         -- 1 added; 0 the kid exists (never overwritten)
`
}

/** KEYS[1] keys hash; ARGV[1] kid, ARGV[2] JSON. Replaces only an existing kid. */
export const updateKey: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then          -- removed meanwhile: do not bring it back
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])                  -- replace the record (e.g. retireAt set)
return 1
`
}

/** KEYS[1] store epoch; ARGV[1] a fresh epoch. Returns the epoch the store holds after the call (SECURITY.md E01). */
export const claimEpoch: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
redis.call('SET', KEYS[1], ARGV[1], 'NX')                      -- first initialisation (or after data loss) only
return redis.call('GET', KEYS[1])                              -- the epoch every instance now agrees on
`
}

/**
 * KEYS[1] a refresh-token or code hash consumed by this request. Undoes the consumption when its
 * WAIT was not acknowledged (durable.ts): the client got a 503 and its retry must not look like a
 * replay (issue 11 item 5). Returns 1 when released.
 */
export const releaseConsumed: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
if redis.call('HGET', KEYS[1], 'u') ~= '1' then                -- gone, or not consumed: nothing to undo
  return 0
end
redis.call('HSET', KEYS[1], 'u', '0')                          -- usable again; HSET keeps the TTL
return 1
`
}

/** KEYS[1] store epoch; ARGV[1] the epoch the caller knows, ARGV[2] a fresh one. Replaces it only if unchanged (epoch.ts: lost writes). */
export const rotateEpoch: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then                  -- nobody rotated it meanwhile
  redis.call('SET', KEYS[1], ARGV[2])                          -- every token of the old epoch is refused from now on
end
return redis.call('GET', KEYS[1])                              -- the epoch every instance now agrees on
`
}

export const scripts = { putRecord, updateRecord, putRefresh, consumeRefresh, rotateRefresh, consumeWithGrace, recordSession, revokeUntil, revokeBefore, addCounter, addKey, updateKey, claimEpoch, releaseConsumed, rotateEpoch }

/** The scripts as ioredis adds them to the client (one method per definition above). */
export interface ScriptCommands {
  putRecord(k1: string, k2: string, json: string, disabled: string, ifAbsent: string, channel: string, event: string): Promise<number>
  updateRecord(k1: string, k2: string, k3: string, expected: string, json: string, disabled: string, cutoff: string, channel: string, disabledEvent: string, cutoffEvent: string): Promise<number>
  putRefresh(key: string, json: string, ttlMs: number): Promise<number>
  consumeRefresh(key: string, keepMs?: number): Promise<[string, string] | null>
  rotateRefresh(key: string, successorKey: string, graceKey: string, json: string, ttlMs: number, presenterJkt: string, graceMs: number, sealed: string): Promise<[string, string, string?] | null>
  consumeWithGrace(key: string, graceKey: string, successorKey: string, presenterJkt: string, graceMs: number, sealed: string): Promise<[string, string, string?, string?, string?] | null>
  recordSession(key: string, index: string, sid: string, sub: string, clientId: string, createdAt: number, lastUsedAt: number, ip: string, userAgent: string, expiresAt: number, expiresAtMs: number, nowMs: number): Promise<number>
  revokeUntil(key: string, ttlMs: number, channel: string, event: string): Promise<number>
  revokeBefore(key: string, before: number, channel: string, event: string): Promise<number>
  addCounter(key: string, delta: number, windowMs: number): Promise<[number, number]>
  addKey(key: string, kid: string, json: string, onlyIfEmpty: string): Promise<number>
  updateKey(key: string, kid: string, json: string): Promise<number>
  claimEpoch(key: string, candidate: string): Promise<string>
  releaseConsumed(key: string): Promise<number>
  rotateEpoch(key: string, expected: string, fresh: string): Promise<string>
}
