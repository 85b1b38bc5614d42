// The Redis store's sessions (one per refresh family; refresh-scripts.ts recordSession),
// one-time claims (DPoP proof jti, RFC 9449 §11.1) and shared secrets (DPoP nonce key).
import { randomBytes } from 'node:crypto'
import type { SessionRecord } from '../types.js'
import type { StoreRedis } from './client.js'
import type { KeyLayout } from './keys.js'

type Run = <T>(what: string, op: () => Promise<T>) => Promise<T>


export class RedisSessions {
  constructor (private readonly redis: StoreRedis, private readonly k: KeyLayout, private readonly run: Run) {}

  async record (s: SessionRecord): Promise<void> {
    const expiresAtMs = s.expiresAt * 1000
    const now = Date.now()
    if (expiresAtMs <= now) return
    await this.run('recordSession', () => this.redis.recordSession(this.k.session(s.sub, s.sid), this.k.userSessions(s.sub),
      s.sid, s.sub, s.clientId, s.createdAt, s.lastUsedAt, s.ip, s.userAgent, s.expiresAt, expiresAtMs, now))
  }

  async list (sub: string): Promise<SessionRecord[]> {
    const sids = await this.run('listSessions', () => this.redis.zrangebyscore(this.k.userSessions(sub), `(${Date.now()}`, '+inf'))
    if (sids.length === 0) return []
    const pipeline = this.redis.pipeline()
    for (const sid of sids) pipeline.hgetall(this.k.session(sub, sid))
    const replies = await this.run('listSessions', async () => await pipeline.exec())
    const out: SessionRecord[] = []
    for (const [err, h] of replies ?? []) {
      const f = h as Record<string, string> | null
      if (err !== null || f === null || f.sid === undefined) continue // expired meanwhile
      out.push({
        sid: f.sid, sub: f.sub ?? sub, clientId: f.clientId ?? '', createdAt: Number(f.createdAt), lastUsedAt: Number(f.lastUsedAt),
        ip: f.ip ?? '', userAgent: f.userAgent ?? '', expiresAt: Number(f.expiresAt)
      })
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || (a.sid < b.sid ? -1 : 1))
  }

  async claimOnce (id: string, ttlMs: number): Promise<boolean> {
    const ok = await this.run('claimOnce', () => this.redis.set(this.k.once(id), '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'))
    return ok === 'OK'
  }

  async sharedSecret (name: string, candidate = randomBytes(32).toString('base64url')): Promise<string> {
    // SET NX then GET, in one script: the same step that makes the store epoch (scripts.ts claimEpoch)
    return await this.run('sharedSecret', () => this.redis.claimEpoch(this.k.secret(name), candidate))
  }
}
