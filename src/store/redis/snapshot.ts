// The whole revocation state of the Redis store as events (REVOCATION_MODE=replicated: a new local
// view starts from it). SCAN over the revocation keys, never KEYS: markers with their PTTL,
// cut-offs, disabled flags.
import type { RevocationEvent } from '../types.js'
import type { KeyLayout } from './keys.js'
import type { StoreRedis } from './client.js'

type Run = <T>(what: string, op: () => Promise<T>) => Promise<T>

export async function revocationSnapshot (redis: StoreRedis, k: KeyLayout, run: Run): Promise<RevocationEvent[]> {
  const out: RevocationEvent[] = []
  const now = Date.now()
  const kinds: Array<[string, (id: string, value: string | null, ttl: number) => RevocationEvent | null]> = [
    [k.revokedJti(''), (id, _v, ttl) => ttl > 0 ? { kind: 'token', id, untilMs: now + ttl } : null],
    [k.revokedSid(''), (id, _v, ttl) => ttl > 0 ? { kind: 'session', id, untilMs: now + ttl } : null],
    [k.revokedBefore(''), (id, v) => v === null ? null : { kind: 'user-cutoff', id, before: Number(v) }],
    [k.clientRevokedBefore(''), (id, v) => v === null ? null : { kind: 'client-cutoff', id, before: Number(v) }],
    [k.userDisabled(''), (id, v) => v === null ? null : { kind: 'user-disabled', id, disabled: true }],
    [k.clientDisabled(''), (id, v) => v === null ? null : { kind: 'client-disabled', id, disabled: true }]
  ]
  for (const [prefix, toEvent] of kinds) {
    const match = prefix.replace(/[*?[\]\\]/g, '\\$&') + '*'
    let cursor = '0'
    do {
      const [next, keys] = await run('revocationSnapshot', () => redis.scan(cursor, 'MATCH', match, 'COUNT', 1000))
      cursor = next
      if (keys.length === 0) continue
      const pipeline = redis.pipeline()
      for (const key of keys) pipeline.get(key).pttl(key)
      const replies = await run('revocationSnapshot', async () => (await pipeline.exec()) ?? [])
      keys.forEach((key, i) => {
        const [vErr, value] = replies[2 * i] ?? [null, null]
        const [tErr, ttl] = replies[2 * i + 1] ?? [null, -2]
        if (vErr !== null || tErr !== null) throw new Error(`revocation snapshot: ${String(vErr ?? tErr)}`)
        const e = toEvent(key.slice(prefix.length), value as string | null, ttl as number)
        if (e !== null) out.push(e)
      })
    } while (cursor !== '0')
  }
  return out
}
