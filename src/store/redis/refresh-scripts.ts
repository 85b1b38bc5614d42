// Refresh-token rotation as one script (RFC 9700 §4.14.2; issue 9 item 13). Consuming the old token
// and storing its successor in two calls let a store failure in between burn the old token without
// a successor: the client got a 503, retried, and its retry looked like a replay, which revoked the
// session. Here both writes happen in one atomic step or not at all. The script checks everything
// before its first write (Redis does not roll back a script that fails half-way).
import type { ScriptDefinition } from './scripts.js'

/**
 * KEYS[1] old refresh-token hash, KEYS[2] successor hash; ARGV[1] successor JSON, ARGV[2] ms until
 * the successor expires. Returns nil (unknown) or {used "0"|"1", JSON record} as before this call.
 */
export const rotateRefresh: ScriptDefinition = {
  numberOfKeys: 2,
  lua: `
local state = redis.call('HMGET', KEYS[1], 'u', 'r')          -- previous used flag and the record
if not state[2] then                                           -- no record: unknown or expired
  return nil                                                   -- nothing consumed, nothing stored
end
if state[1] == '1' then                                        -- already used: a replay (RFC 9700 §4.14.2)
  return state                                                 -- no successor for a replayed token
end
redis.call('HSET', KEYS[2], 'r', ARGV[1], 'u', '0')            -- the successor, not used yet
redis.call('PEXPIRE', KEYS[2], ARGV[2])                        -- lives exactly until the family expires
redis.call('HSET', KEYS[1], 'u', '1')                          -- the old one used; HSET keeps its TTL
return state                                                   -- the state before this rotation
`
}
