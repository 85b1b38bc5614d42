// The per-request revocation read, and the whole revocation state of the Redis store as events (REVOCATION_MODE=replicated: a new local
// view starts from it). SCAN over the revocation keys, never KEYS: markers with their PTTL,
// cut-offs, disabled flags. On a Cluster, every master is scanned (each holds its slots' keys) and
// the id is read from inside the key's hash tag.
import type { RevocationEvent, RevocationQuery, RevocationState } from '../types.js'
import type { KeyLayout } from './keys.js'
import type { StoreRedis } from './client.js'
import { masters, mgetAll } from './slots.js'

type Run = <T>(what: string, op: () => Promise<T>) => Promise<T>

/** Everything the check-revocation stage needs, in one round trip (on a Cluster: one MGET per slot, in parallel). */
export async function readRevocation (redis: StoreRedis, k: KeyLayout, q: RevocationQuery, run: Run): Promise<RevocationState> {
  const keys = [k.revokedJti(q.jti), k.revokedBefore(q.sub), k.userDisabled(q.sub), k.clientDisabled(q.clientId), k.clientRevokedBefore(q.clientId)]
  if (q.sid !== undefined) keys.push(k.revokedSid(q.sid))
  const [jti, before, userDisabled, clientDisabled, clientBefore, sid] = await run('checkRevocation', () => mgetAll(redis, keys))
  return {
    tokenRevoked: jti != null,
    sessionRevoked: sid != null,
    userRevokedBefore: before == null ? null : Number(before),
    userDisabled: userDisabled != null,
    clientDisabled: clientDisabled != null,
    clientRevokedBefore: clientBefore == null ? null : Number(clientBefore)
  }
}

export async function revocationSnapshot (redis: StoreRedis, k: KeyLayout, run: Run): Promise<RevocationEvent[]> {
  const out: RevocationEvent[] = []
  const now = Date.now()
  const kinds: Array<[(id: string) => string, (id: string, value: string | null, ttl: number) => RevocationEvent | null]> = [
    [k.revokedJti, (id, _v, ttl) => ttl > 0 ? { kind: 'token', id, untilMs: now + ttl } : null],
    [k.revokedSid, (id, _v, ttl) => ttl > 0 ? { kind: 'session', id, untilMs: now + ttl } : null],
    [k.revokedBefore, (id, v) => v === null ? null : { kind: 'user-cutoff', id, before: Number(v) }],
    [k.clientRevokedBefore, (id, v) => v === null ? null : { kind: 'client-cutoff', id, before: Number(v) }],
    [k.userDisabled, (id, v) => v === null ? null : { kind: 'user-disabled', id, disabled: true }],
    [k.clientDisabled, (id, v) => v === null ? null : { kind: 'client-disabled', id, disabled: true }]
  ]
  for (const node of masters(redis)) {
    for (const [keyOf, toEvent] of kinds) {
      // the id sits between `before` and `after` (after = '}' in the Cluster layout, '' otherwise)
      const [before, after] = keyOf('\u0000').split('\u0000') as [string, string]
      const glob = (x: string): string => x.replace(/[*?[\]\\]/g, '\\$&')
      const match = `${glob(before)}*${glob(after)}`
      let cursor = '0'
      do {
        const [next, keys] = await run('revocationSnapshot', () => node.scan(cursor, 'MATCH', match, 'COUNT', 1000))
        cursor = next
        if (keys.length === 0) continue
        const pipeline = node.pipeline()
        for (const key of keys) pipeline.get(key).pttl(key)
        const replies = await run('revocationSnapshot', async () => (await pipeline.exec()) ?? [])
        keys.forEach((key, i) => {
          const [vErr, value] = replies[2 * i] ?? [null, null]
          const [tErr, ttl] = replies[2 * i + 1] ?? [null, -2]
          if (vErr !== null || tErr !== null) throw new Error(`revocation snapshot: ${String(vErr ?? tErr)}`)
          const e = toEvent(key.slice(before.length, key.length - after.length), value as string | null, ttl as number)
          if (e !== null) out.push(e)
        })
      } while (cursor !== '0')
    }
  }
  return out
}
