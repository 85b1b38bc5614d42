// The production Store: Redis through ioredis, shared by every gateway instance.
// Connection policy (fail fast, heal by itself) lives in client.ts; key layout in keys.ts;
// every read-modify-write is one Lua script in scripts.ts; the signing-key set in key-set.ts.
//
// The user and client revoked-before cut-offs are kept without TTL: a cut-off has no natural end, the
// store does not know the longest token lifetime, and one small key per revoked user or disabled
// client is cheap. The disabled flags of users and clients live in their own keys (written by the
// same script as the record) so checkRevocation is a single MGET. listUsers/listClients read a set
// index written with each record (not SCAN); the interface never deletes users or clients. Three modes (target.ts): standalone, Sentinel, Cluster. The security-relevant writes (writes.ts)
// wait for REDIS_MIN_REPLICAS replicas (durable.ts); on a Cluster the keys carry hash tags (keys.ts)
// and multi-key reads are split per slot (slots.ts).

import type {
  ClientRecord,
  ConsumeResult,
  CounterDelta,
  CounterResult,
  RecordChange,
  KeyRecord,
  RefreshTokenRecord,
  RevocationEvent,
  RevocationFeed,
  RevocationFeedHandlers,
  RevocationFeedOptions,
  RevocationQuery,
  RevocationState,
  RotateResult,
  RotationOptions,
  SessionRecord,
  Store,
  StoreObserver,
  UpdateOptions,
  UserRecord
} from '../types.js'
import { keyLayout, type KeyLayout } from './keys.js'
import { bounded, closeOnPurpose, connectRedis, readyOrTimeout, timed, type StoreLogger, type StoreRedis } from './client.js'
import { Durability, type ReplicaStatus } from './durable.js'
import { mgetAll } from './slots.js'
import type { RedisTarget } from './target.js'
import { RedisWrites } from './writes.js'
import { subscribeFeed } from './feed.js'
import type { EpochWatch } from '../epoch.js'
import { watchRedisEpoch, writeCounter } from './epoch.js'
import { recordEvents, updateRecord, type RecordIo } from './records.js'
import { readRevocation, revocationSnapshot } from './snapshot.js'
import { compare, flag, RedisKeySet } from './key-set.js'
import { RedisCodes, RedisLoginSessions } from './auth-state.js'
import { RedisSessions } from './sessions.js'
import { RedisCounters } from './counters.js'

export type { StoreLogger } from './client.js'

export interface RedisStoreOptions {
  /** Which Redis (standalone, Sentinel, Cluster; target.ts). */
  target?: RedisTarget
  /** Shorthand for a standalone target without credentials (tests). */
  url?: string
  /** Per-command bound in ms (connect and command timeout). Default 1000. */
  timeoutMs?: number
  /** Prepended to every key. Default `portcullis:`. */
  prefix?: string
  logger?: StoreLogger
  /** How often the store epoch is re-confirmed, in ms (default EPOCH_CHECK_MS; tests go faster). */
  epochCheckMs?: number
  /** Times every command (metrics); absent: nothing is timed. */
  observer?: StoreObserver
}

const noop = (): void => {}
const silent: StoreLogger = { info: noop, warn: noop, error: noop }

export class RedisStore implements Store {
  readonly kind = 'redis' as const
  readonly #redis: StoreRedis
  readonly #k: KeyLayout
  readonly #timeoutMs: number
  readonly #target: RedisTarget
  readonly #writes: RedisWrites
  readonly #log: StoreLogger
  readonly #keys: RedisKeySet
  readonly #observer: StoreObserver | null
  readonly #sessions: RedisSessions
  readonly #counters: RedisCounters
  readonly epoch: EpochWatch
  readonly codes: RedisCodes
  readonly loginSessions: RedisLoginSessions

  constructor (opts: RedisStoreOptions) {
    this.#timeoutMs = opts.timeoutMs ?? 1000
    const target = opts.target ?? (opts.url !== undefined ? { mode: 'standalone', url: opts.url, tls: false, minReplicas: 0 } : undefined)
    if (target === undefined) throw new TypeError('RedisStore needs a target or a url')
    this.#target = target
    this.#log = opts.logger ?? silent
    this.#observer = opts.observer ?? null
    this.#k = keyLayout(opts.prefix ?? 'portcullis:', { cluster: target.mode === 'cluster' })
    this.#redis = connectRedis(target, this.#timeoutMs, this.#log)
    const run = async <T>(what: string, op: () => Promise<T>): Promise<T> => await this.#run(what, op)
    this.#sessions = new RedisSessions(this.#redis, this.#k, run)
    this.#counters = new RedisCounters(this.#redis, this.#k, run)
    const durability = new Durability(this.#redis, { required: target.minReplicas, timeoutMs: this.#timeoutMs, logger: this.#log, counterOf: writeCounter(this.#redis, this.#k) })
    this.#writes = new RedisWrites(this.#redis, this.#k, run, durability.start())
    this.#keys = new RedisKeySet(this.#redis, this.#k.keys, run)
    this.codes = new RedisCodes(this.#redis, this.#k, run, this.#writes)
    this.loginSessions = new RedisLoginSessions(this.#redis, this.#k, run)
    this.epoch = watchRedisEpoch({ redis: this.#redis, k: this.#k, timeoutMs: this.#timeoutMs, logger: this.#log, durability, intervalMs: opts.epochCheckMs })
  }

  /** Resolves true once Redis answers PING (its epoch checked), false if it does not within `timeoutMs` (startup/readiness). */
  async ready (timeoutMs = this.#timeoutMs): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.#redis.status === 'ready') {
        try {
          await this.ping()
          await this.epoch.verify() // confirmed (or refused as evicting) before anyone asks
          return true
        } catch { /* try again */ }
      }
      await readyOrTimeout(this.#redis, Math.min(250, deadline - Date.now()))
    }
    return false
  }

  async ping (): Promise<void> {
    await this.#run('ping', () => this.#redis.ping())
  }

  async close (): Promise<void> {
    this.epoch.close()
    this.#writes.durability.close()
    const redis = this.#redis
    closeOnPurpose(redis)
    if (redis.status === 'end') return
    let timer: NodeJS.Timeout | undefined
    if (redis.status === 'ready') {
      // QUIT lets Redis finish what it has; a frozen Redis gets timeoutMs, then the socket is cut.
      await Promise.race([
        redis.quit().catch(noop),
        new Promise((resolve) => { timer = setTimeout(resolve, this.#timeoutMs) })
      ])
      clearTimeout(timer)
    }
    redis.disconnect() // also stops the reconnect loop
  }

  // users

  async getUser (name: string): Promise<UserRecord | null> {
    return parse<UserRecord>(await this.#run('getUser', () => this.#redis.get(this.#k.user(name))))
  }

  async putUser (user: UserRecord, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const k = this.#k
    return await this.#writes.putRecord('putUser', k.user(user.name), k.userDisabled(user.name), k.users, user.name,
      JSON.stringify(user), flag(user.disabled), flag(opts.ifAbsent), { kind: 'user-disabled', id: user.name, disabled: user.disabled })
  }

  async updateUser (name: string, change: RecordChange<UserRecord>, opts: UpdateOptions = {}): Promise<UserRecord | null> {
    const k = this.#k
    const io = this.#recordIo('updateUser', k.user(name), k.userDisabled(name), k.revokedBefore(name))
    return await updateRecord(io, recordEvents('user', name), (u) => u.name, change, opts)
  }

  async listUsers (): Promise<UserRecord[]> {
    const users = await this.#list<UserRecord>('listUsers', this.#k.users, this.#k.user)
    return users.sort((a, b) => compare(a.name, b.name))
  }

  // clients

  async getClient (id: string): Promise<ClientRecord | null> {
    return parse<ClientRecord>(await this.#run('getClient', () => this.#redis.get(this.#k.client(id))))
  }

  async putClient (client: ClientRecord, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const k = this.#k
    return await this.#writes.putRecord('putClient', k.client(client.id), k.clientDisabled(client.id), k.clients, client.id,
      JSON.stringify(client), flag(client.disabled), flag(opts.ifAbsent), { kind: 'client-disabled', id: client.id, disabled: client.disabled })
  }

  async updateClient (id: string, change: RecordChange<ClientRecord>, opts: UpdateOptions = {}): Promise<ClientRecord | null> {
    const k = this.#k
    const io = this.#recordIo('updateClient', k.client(id), k.clientDisabled(id), k.clientRevokedBefore(id))
    return await updateRecord(io, recordEvents('client', id), (c) => c.id, change, opts)
  }

  async listClients (): Promise<ClientRecord[]> {
    const clients = await this.#list<ClientRecord>('listClients', this.#k.clients, this.#k.client)
    return clients.sort((a, b) => compare(a.id, b.id))
  }

  // refresh tokens

  async putRefreshToken (tokenHash: string, record: RefreshTokenRecord): Promise<void> {
    const ttlMs = msUntil(record.expiresAt)
    if (ttlMs <= 0) return // already expired: nothing to guard
    await this.#run('putRefreshToken', () => this.#redis.putRefresh(this.#k.refresh(tokenHash), JSON.stringify(record), ttlMs))
  }

  async consumeRefreshToken (tokenHash: string): Promise<ConsumeResult> {
    const state = await this.#writes.consume('consumeRefreshToken', this.#k.refresh(tokenHash))
    // RFC 9700 §4.14.2: a second use of a refresh token is a replay.
    return state === null ? { status: 'unknown' } : { status: state[0] === '1' ? 'reused' : 'active', record: JSON.parse(state[1]) as RefreshTokenRecord }
  }

  async rotateRefreshToken (tokenHash: string, successorHash: string, successor: RefreshTokenRecord, opts?: RotationOptions): Promise<RotateResult> {
    const ttlMs = msUntil(successor.expiresAt)
    if (ttlMs <= 0) return { status: 'unknown' } // the family has expired: nothing to rotate
    const keys = { old: this.#k.refresh(tokenHash), successor: this.#k.refresh(successorHash), grace: this.#k.refreshGrace(tokenHash) }
    return await this.#writes.rotate(keys, JSON.stringify(successor), ttlMs, opts)
  }

  async getRefreshToken (tokenHash: string): Promise<RefreshTokenRecord | null> {
    return parse<RefreshTokenRecord>(await this.#run('getRefreshToken', () => this.#redis.hget(this.#k.refresh(tokenHash), 'r')))
  }

  // sessions, one-time claims, shared secrets (sessions.ts)

  async recordSession (session: SessionRecord): Promise<void> { await this.#sessions.record(session) }
  async listSessions (sub: string): Promise<SessionRecord[]> { return await this.#sessions.list(sub) }
  async claimOnce (id: string, ttlMs: number): Promise<boolean> { return await this.#sessions.claimOnce(id, ttlMs) }
  async sharedSecret (name: string): Promise<string> { return await this.#sessions.sharedSecret(name) }

  // revocation

  async revokeToken (jti: string, expiresAt: number): Promise<void> {
    await this.#revokeUntil('revokeToken', this.#k.revokedJti(jti), expiresAt, { kind: 'token', id: jti, untilMs: expiresAt * 1000 })
  }

  async revokeSession (sid: string, expiresAt: number): Promise<void> {
    await this.#revokeUntil('revokeSession', this.#k.revokedSid(sid), expiresAt, { kind: 'session', id: sid, untilMs: expiresAt * 1000 })
  }

  async revokeUserBefore (sub: string, before: number): Promise<void> {
    await this.#writes.revokeBefore('revokeUserBefore', this.#k.revokedBefore(sub), before, { kind: 'user-cutoff', id: sub, before })
  }

  async checkRevocation (q: RevocationQuery): Promise<RevocationState> {
    return await readRevocation(this.#redis, this.#k, q, async (what, op) => await this.#run(what, op))
  }

  subscribeRevocations (handlers: RevocationFeedHandlers, opts: RevocationFeedOptions = {}): RevocationFeed {
    return subscribeFeed({ target: this.#target, command: this.#redis, channel: this.#k.revocations, timeoutMs: this.#timeoutMs, logger: this.#log, handlers, heartbeatMs: opts.heartbeatMs })
  }

  /** SCAN over the revocation keys (never KEYS): see snapshot.ts. */
  async revocationSnapshot (): Promise<RevocationEvent[]> {
    return await revocationSnapshot(this.#redis, this.#k, async (what, op) => await this.#run(what, op))
  }

  // counters (counters.ts)
  async incrementCounter (key: string, windowMs: number): Promise<CounterResult> { return (await this.#counters.add('incrementCounter', [{ key, delta: 1, windowMs }]))[0]! }
  async addCounters (deltas: readonly CounterDelta[]): Promise<Array<CounterResult | null>> { return await this.#counters.add('addCounters', deltas) }
  async resetCounter (key: string): Promise<void> { await this.#counters.reset(key) }

  // signing keys (key-set.ts)
  async listKeys (): Promise<KeyRecord[]> { return await this.#keys.list() }
  /** Never overwrites an existing kid (use updateKey); resolves false then. */
  async addKey (key: KeyRecord, opts: { onlyIfEmpty?: boolean } = {}): Promise<boolean> { return await this.#keys.add(key, opts) }
  /** Replaces the record of an existing kid; a removed kid is not brought back. */
  async updateKey (key: KeyRecord): Promise<void> { await this.#keys.update(key) }
  async removeKey (kid: string): Promise<void> { await this.#keys.remove(kid) }

  // internals
  async #revokeUntil (what: string, key: string, expiresAt: number, event: RevocationEvent): Promise<void> {
    const ttlMs = msUntil(expiresAt)
    if (ttlMs <= 0) return // the token is expired anyway
    await this.#writes.revokeUntil(what, key, ttlMs, event)
  }

  /** The reads and the compare-and-set write of one record (records.ts), each bounded like every call. */
  #recordIo (what: string, record: string, disabledFlag: string, cutoff: string): RecordIo {
    return {
      read: async () => await this.#run(what, () => this.#redis.get(record)),
      write: async (expected, json, disabled, before, disabledEvent, cutoffEvent) =>
        await this.#writes.updateRecord(what, [record, disabledFlag, cutoff], expected, json, disabled, before, disabledEvent, cutoffEvent)
    }
  }

  /** Online replicas per master against REDIS_MIN_REPLICAS (/readyz). */
  replicas (): ReplicaStatus { return this.#writes.durability.status() }

  async #list<T> (what: string, index: string, keyOf: (id: string) => string): Promise<T[]> {
    const ids = await this.#run(what, () => this.#redis.smembers(index))
    if (ids.length === 0) return []
    const values = await this.#run(what, () => mgetAll(this.#redis, ids.map(keyOf)))
    return values.flatMap((json) => (json == null ? [] : [JSON.parse(json) as T]))
  }

  async #run<T> (what: string, op: () => Promise<T>): Promise<T> {
    return await (this.#observer === null ? bounded(what, this.#timeoutMs, op) : timed(this.#observer, what, this.#timeoutMs, op))
  }
}

const msUntil = (epochSeconds: number): number => Math.ceil(epochSeconds * 1000 - Date.now())

function parse<T> (json: string | null): T | null {
  return json == null ? null : JSON.parse(json) as T
}
