// Read-modify-write of users and clients (SECURITY.md T-rows on disable/revoke; issue 9 item 14).
//
// The record's JSON is built in TypeScript, not in Lua: Redis 7.0's cjson turns an empty array into
// `{}` and escapes `/`, so decoding, patching and re-encoding a record in a script would corrupt it.
// The script is therefore a compare-and-set: it writes the changed record only when the stored one is
// still, byte for byte, the one the caller read, together with everything that must change with it
// (disabled flag, cut-off, feed events). On a mismatch it writes nothing and the caller reads again
// (redis-store.ts, updateRecord). Two operators editing one record can no longer lose a change.
import type { ScriptDefinition } from './scripts.js'

/**
 * KEYS[1] record, KEYS[2] disabled flag, KEYS[3] revoked-before cut-off;
 * ARGV[1] expected JSON, ARGV[2] new JSON, ARGV[3] disabled "1"|"0", ARGV[4] cut-off epoch seconds or "",
 * ARGV[5] feed channel ('' on a Cluster: the store SPUBLISHes after the script), ARGV[6] disabled event, ARGV[7] cut-off event. Returns 1 written, 0 changed meanwhile.
 */
export const updateRecord: ScriptDefinition = {
  numberOfKeys: 3,
  lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then                  -- changed or deleted since the caller read it
  return 0                                                     -- write nothing: the caller reads again
end
redis.call('SET', KEYS[1], ARGV[2])                            -- the changed record, no TTL
if ARGV[3] == '1' then
  redis.call('SET', KEYS[2], '1')                              -- disabled: flag read by checkRevocation's MGET
else
  redis.call('DEL', KEYS[2])                                   -- enabled: no flag
end
if ARGV[5] ~= '' then
  redis.call('PUBLISH', ARGV[5], ARGV[6])                      -- replicated revocation: the disabled flag
end
if ARGV[4] ~= '' then                                          -- this change also ends every earlier token
  local current = redis.call('GET', KEYS[3])                   -- false when never set
  if not current or tonumber(current) < tonumber(ARGV[4]) then -- the cut-off only ever moves forward
    redis.call('SET', KEYS[3], ARGV[4])                        -- no TTL: see redis-store.ts
    if ARGV[5] ~= '' then
      redis.call('PUBLISH', ARGV[5], ARGV[7])                  -- replicated revocation: the cut-off
    end
  end
end
return 1
`
}
