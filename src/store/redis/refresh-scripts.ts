// Refresh-token rotation as one script (RFC 9700 §4.14.2; issue 9 item 13). Consuming the old token
// and storing its successor in two calls let a store failure in between burn the old token without
// a successor: the client got a 503, retried, and its retry looked like a replay, which revoked the
// session. Here both writes happen in one atomic step or not at all. The script checks everything
// before its first write (Redis does not roll back a script that fails half-way).
//
// REFRESH_GRACE (issue 12 item 6): a rotation also leaves a grace entry beside the old token, living
// graceMs: the successor's key, the successor sealed with the old token (src/oauth/refresh-grace.ts)
// and the presenter's DPoP key. A retry of the old token while it lives, by the same key, while the
// successor is still unused, gets that sealed successor back: the reply lost on a flaky network, or
// after a Redis timeout once the script ran, costs no session. Anything else is a replay.
import type { ScriptDefinition } from './scripts.js'

/**
 * KEYS[1] old refresh-token hash, KEYS[2] successor hash, KEYS[3] the old token's grace entry;
 * ARGV[1] successor JSON, ARGV[2] ms until the successor expires, ARGV[3] presenter's DPoP key
 * thumbprint ('' without a proof), ARGV[4] grace ms (0: none), ARGV[5] sealed successor.
 * Returns nil (unknown) or {status, JSON record of the old token[, sealed successor]}: status "0"
 * rotated, "1" replay, "2" grace retry, "3" bound to another key (nothing written).
 */
export const rotateRefresh: ScriptDefinition = {
  numberOfKeys: 3,
  lua: `
local state = redis.call('HMGET', KEYS[1], 'u', 'r')          -- previous used flag and the record
if not state[2] then                                           -- no record: unknown or expired
  return nil                                                   -- nothing consumed, nothing stored
end
if state[1] == '1' then                                        -- already used
  local g = redis.call('HMGET', KEYS[3], 's', 'c', 'k')        -- the grace entry, while it lives
  -- g[1] names the successor stored with KEYS[1]'s rotation (the same slot on a single server)
  if g[1] and g[3] == ARGV[3] and redis.call('HGET', g[1], 'u') == '0' then
    return {'2', state[2], g[2]}                               -- a retry: the same successor again
  end
  return {'1', state[2]}                                       -- a replay (RFC 9700 §4.14.2): no successor
end
local bound = cjson.decode(state[2]).jkt                       -- RFC 9449 §5: the family's DPoP key, if any
if type(bound) == 'string' and bound ~= ARGV[3] then           -- a proof of another key, or none
  return {'3', state[2]}                                       -- refused; the token stays unused
end
redis.call('HSET', KEYS[2], 'r', ARGV[1], 'u', '0')            -- the successor, not used yet
redis.call('PEXPIRE', KEYS[2], ARGV[2])                        -- lives exactly until the family expires
redis.call('HSET', KEYS[1], 'u', '1')                          -- the old one used; HSET keeps its TTL
if tonumber(ARGV[4]) > 0 then                                  -- REFRESH_GRACE on
  redis.call('DEL', KEYS[3])                                   -- start from a clean entry
  redis.call('HSET', KEYS[3], 's', KEYS[2], 'c', ARGV[5], 'k', ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])                      -- gone, sealed successor and all, after the window
end
return {'0', state[2]}                                         -- rotated
`
}

/**
 * The Cluster form of rotateRefresh (a script may only touch its own slot): the successor was stored
 * before (src/store/redis/writes.ts) and lives in another slot, so this script never reads or writes
 * it. KEYS[1] old refresh-token hash, KEYS[2] its grace entry (same slot); ARGV[1] the successor's
 * key name (stored in the grace entry, never accessed here), ARGV[2] presenter's DPoP key thumbprint,
 * ARGV[3] grace ms, ARGV[4] sealed successor. Returns nil (unknown), {'0', record} consumed,
 * {'3', record} bound to another key, or {'1', record, successor key, sealed, key} already used:
 * the caller decides a grace retry by reading whether that successor is still unused.
 */
export const consumeWithGrace: ScriptDefinition = {
  numberOfKeys: 2,
  lua: `
local state = redis.call('HMGET', KEYS[1], 'u', 'r')
if not state[2] then return nil end
if state[1] == '1' then
  local g = redis.call('HMGET', KEYS[2], 's', 'c', 'k')
  return {'1', state[2], g[1] or '', g[2] or '', g[3] or ''}
end
local bound = cjson.decode(state[2]).jkt
if type(bound) == 'string' and bound ~= ARGV[2] then return {'3', state[2]} end
redis.call('HSET', KEYS[1], 'u', '1')
if tonumber(ARGV[3]) > 0 then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 's', ARGV[1], 'c', ARGV[4], 'k', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return {'0', state[2]}
`
}

/**
 * A session (refresh family) recorded at every token request of the family. KEYS[1] session hash,
 * KEYS[2] the user's session index (sorted set, score = expiry ms); ARGV[1] sid, ARGV[2] sub,
 * ARGV[3] client id, ARGV[4] createdAt, ARGV[5] lastUsedAt, ARGV[6] ip, ARGV[7] user agent,
 * ARGV[8] expiresAt (s), ARGV[9] expiry ms, ARGV[10] now ms.
 */
export const recordSession: ScriptDefinition = {
  numberOfKeys: 2,
  lua: `
redis.call('HSETNX', KEYS[1], 'createdAt', ARGV[4])            -- the login time, written once
redis.call('HSET', KEYS[1], 'sid', ARGV[1], 'sub', ARGV[2], 'clientId', ARGV[3],
  'lastUsedAt', ARGV[5], 'ip', ARGV[6], 'userAgent', ARGV[7], 'expiresAt', ARGV[8])
redis.call('PEXPIREAT', KEYS[1], ARGV[9])                      -- lives exactly as long as its family
redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])                  -- the user's index of sessions
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[10])      -- drop the ones that have ended
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])                      -- the index lives as long as its longest session
return 1
`
}
