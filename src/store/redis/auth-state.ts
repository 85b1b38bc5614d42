// Redis implementations of the authorization-code and login-session stores (src/store/auth-types.ts).
// A code is a hash {r: JSON record, u: "0"|"1"} that lives until the code expires; it is written and
// consumed by the same two Lua scripts as refresh tokens (putRefresh, consumeRefresh in scripts.ts; the
// consume waits for REDIS_MIN_REPLICAS like a refresh, durable.ts):
// the consume reads the used flag and sets it in one atomic step, so of two concurrent redemptions
// exactly one sees "unused"; the same step extends the TTL of a first-used code to the lifetime of
// the tokens it issues, so that a replay after the code's 60 s is still a replay (SECURITY.md W01).
// A login session is a plain string with a TTL.
import type { AuthCodeRecord, AuthCodeStore, CodeConsumeResult, LoginSessionRecord, LoginSessionStore } from '../auth-types.js'
import type { StoreRedis } from './client.js'
import type { KeyLayout } from './keys.js'
import type { RedisWrites } from './writes.js'

type Run = <T>(what: string, op: () => Promise<T>) => Promise<T>

function msUntil (epochSeconds: number): number {
  return Math.ceil(epochSeconds * 1000 - Date.now())
}

export class RedisCodes implements AuthCodeStore {
  constructor (private readonly redis: StoreRedis, private readonly k: KeyLayout, private readonly run: Run, private readonly writes: RedisWrites) {}

  async put (codeHash: string, record: AuthCodeRecord): Promise<void> {
    const ttlMs = msUntil(record.expiresAt)
    if (ttlMs <= 0) return // already expired: nothing to keep
    await this.run('putCode', () => this.redis.putRefresh(this.k.code(codeHash), JSON.stringify(record), ttlMs))
  }

  async get (codeHash: string): Promise<AuthCodeRecord | null> {
    const json = await this.run('getCode', () => this.redis.hget(this.k.code(codeHash), 'r'))
    return json == null ? null : JSON.parse(json) as AuthCodeRecord
  }

  async consume (codeHash: string, keepSeconds: number): Promise<CodeConsumeResult> {
    // durable (writes.ts): answered once the replicas have it; undone and 503 when they do not.
    // RFC 6749 §4.1.2 (SECURITY.md W01): the first use keeps the used code as long as its tokens live
    const state = await this.writes.consume('consumeCode', this.k.code(codeHash), keepSeconds * 1000)
    if (state === null) return { status: 'unknown' }
    // RFC 6749 §4.1.2: a code used twice is a replay
    return { status: state[0] === '1' ? 'reused' : 'active', record: JSON.parse(state[1]) as AuthCodeRecord }
  }
}

export class RedisLoginSessions implements LoginSessionStore {
  constructor (private readonly redis: StoreRedis, private readonly k: KeyLayout, private readonly run: Run) {}

  async put (idHash: string, record: LoginSessionRecord): Promise<void> {
    const ttlMs = msUntil(record.expiresAt)
    if (ttlMs <= 0) return
    await this.run('putLoginSession', () => this.redis.set(this.k.loginSession(idHash), JSON.stringify(record), 'PX', ttlMs))
  }

  async get (idHash: string): Promise<LoginSessionRecord | null> {
    const json = await this.run('getLoginSession', () => this.redis.get(this.k.loginSession(idHash)))
    return json == null ? null : JSON.parse(json) as LoginSessionRecord
  }

  async delete (idHash: string): Promise<void> {
    await this.run('deleteLoginSession', () => this.redis.del(this.k.loginSession(idHash)))
  }
}
