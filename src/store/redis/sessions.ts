// The Redis store's refresh consume and rotation (refresh-scripts.ts), sessions (one per refresh family),
// one-time claims (DPoP proof jti, RFC 9449 §11.1) and shared secrets (DPoP nonce key).
import type { ConsumeResult, RefreshTokenRecord, RotateResult, RotationOptions, SessionRecord } from '../types.js'
import type { StoreRedis } from './client.js'
import type { KeyLayout } from './keys.js'

type Run = <T>(what: string, op: () => Promise<T>) => Promise<T>

const NO_GRACE: RotationOptions = Object.freeze({ presenterJkt: '', graceMs: 0, sealedSuccessor: '' })
const STATUS = { 0: 'active', 1: 'reused', 2: 'grace', 3: 'wrong_key' } as const

export class RedisSessions {
  constructor (private readonly redis: StoreRedis, private readonly k: KeyLayout, private readonly run: Run) {}

  async consume (tokenHash: string): Promise<ConsumeResult> {
    const state = await this.run('consumeRefreshToken', () => this.redis.consumeRefresh(this.k.refresh(tokenHash)))
    if (state === null) return { status: 'unknown' }
    const record = JSON.parse(state[1]) as RefreshTokenRecord
    // RFC 9700 §4.14.2: a second use of a refresh token is a replay.
    return { status: state[0] === '1' ? 'reused' : 'active', record }
  }

  async rotate (tokenHash: string, successorHash: string, successor: RefreshTokenRecord, opts: RotationOptions = NO_GRACE): Promise<RotateResult> {
    const ttlMs = Math.ceil(successor.expiresAt * 1000 - Date.now())
    if (ttlMs <= 0) return { status: 'unknown' } // the family has expired: nothing to rotate
    const k = this.k
    const state = await this.run('rotateRefreshToken', () => this.redis.rotateRefresh(
      k.refresh(tokenHash), k.refresh(successorHash), k.refreshGrace(tokenHash),
      JSON.stringify(successor), ttlMs, opts.presenterJkt, opts.graceMs, opts.sealedSuccessor))
    if (state === null) return { status: 'unknown' }
    const record = JSON.parse(state[1]) as RefreshTokenRecord
    const status = STATUS[Number(state[0]) as keyof typeof STATUS]
    if (status === 'grace') return { status, record, sealedSuccessor: state[2] ?? '' }
    return { status, record }
  }

  async record (s: SessionRecord): Promise<void> {
    const expiresAtMs = s.expiresAt * 1000
    const now = Date.now()
    if (expiresAtMs <= now) return
    await this.run('recordSession', () => this.redis.recordSession(this.k.session(s.sid), this.k.userSessions(s.sub),
      s.sid, s.sub, s.clientId, s.createdAt, s.lastUsedAt, s.ip, s.userAgent, s.expiresAt, expiresAtMs, now))
  }

  async list (sub: string): Promise<SessionRecord[]> {
    const sids = await this.run('listSessions', () => this.redis.zrangebyscore(this.k.userSessions(sub), `(${Date.now()}`, '+inf'))
    if (sids.length === 0) return []
    const pipeline = this.redis.pipeline()
    for (const sid of sids) pipeline.hgetall(this.k.session(sid))
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

  async sharedSecret (name: string, candidate: string): Promise<string> {
    // SET NX then GET, in one script: the same step that makes the store epoch (scripts.ts claimEpoch)
    return await this.run('sharedSecret', () => this.redis.claimEpoch(this.k.secret(name), candidate))
  }
}
