// The signing key set, shared by every instance through the store (issue 3 point 4).
// The first instance creates the set race-free (addKey onlyIfEmpty); `keys rotate` adds a key that
// signs at once while the older ones stay published until every token they signed has expired.
// Private key material never leaves this module (and key-material.ts, which generates it) except as a
// KeyObject handed to the signer.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { StoreUnavailableError, type KeyRecord, type SigningAlg, type Store } from '../store/types.js'
import { byCreatedThenKid, generateKeyRecord, newest, toPublicJwk, type PublicJwk } from './key-material.js'

export { generateKeyRecord, thumbprint, type PublicJwk } from './key-material.js'

export interface KeyLogger {
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
}

export interface VerificationKey {
  kid: string
  alg: SigningAlg
  publicKey: KeyObject
}

export interface SigningKey {
  kid: string
  alg: SigningAlg
  privateKey: KeyObject
}

/** How often every instance re-reads the key set (and so picks up a rotation). */
export const KEY_REFRESH_INTERVAL_MS = 30_000
/** At most one store read per this interval when a token names a kid we do not know (no refetch storm). */
export const UNKNOWN_KID_REFETCH_MS = 5_000
/** loadLazy: the first retry after a failed load, doubling up to LOAD_RETRY_MAX_MS (SECURITY.md F01, F05). */
export const LOAD_RETRY_MIN_MS = 100
export const LOAD_RETRY_MAX_MS = 1_000

export interface LoadOptions {
  alg: SigningAlg
  logger: KeyLogger
  now?: () => number
  refreshIntervalMs?: number
}

interface Entry {
  record: KeyRecord
  publicKey: KeyObject
  jwk: PublicJwk
  privateKey: KeyObject | null // imported lazily, only for the key that signs
}

export class KeyRing {
  readonly #store: Store
  readonly #logger: KeyLogger
  readonly #now: () => number
  #entries = new Map<string, Entry>()
  #signing: Entry | null = null
  #timer: NodeJS.Timeout | null = null
  #lastUnknownKidFetch = -Infinity
  #inflight: Promise<void> | null = null
  /** Set by loadLazy: while no set is loaded, a refresh is a full load (which may create the first key). */
  #alg: SigningAlg | null = null
  #failures = 0
  #closed = false

  private constructor (store: Store, logger: KeyLogger, now: () => number) {
    this.#store = store
    this.#logger = logger
    this.#now = now
  }

  /** Reads the shared key set; creates the first key when the set is empty. Starts the periodic refresh. */
  static async load (store: Store, opts: LoadOptions): Promise<KeyRing> {
    const ring = new KeyRing(store, opts.logger, opts.now ?? Date.now)
    await ring.#loadOnce(opts.alg)
    ring.#startRefresh(opts.refreshIntervalMs)
    return ring
  }

  /**
   * An empty ring that loads itself in the background, retrying (100 ms doubling to 1 s) until the
   * store answers, so a gateway can listen while Redis is still absent (SECURITY.md F01). Until then
   * `ready` is false, `signingKey()` throws StoreUnavailableError and `ensureReady()` rejects with it:
   * callers answer 503, never 401 (without keys no token can be judged) and never 500.
   * `settled` resolves after the first attempt, whatever its outcome.
   */
  static loadLazy (store: Store, opts: LoadOptions): { ring: KeyRing, settled: Promise<boolean> } {
    const ring = new KeyRing(store, opts.logger, opts.now ?? Date.now)
    ring.#alg = opts.alg
    const settled = ring.#retryLoad(opts.refreshIntervalMs, LOAD_RETRY_MIN_MS)
    return { ring, settled }
  }

  /** Whether a key set has been loaded (always true for a ring from `load`). */
  get ready (): boolean {
    return this.#signing !== null
  }

  /** Resolves at once when ready; otherwise tries one load now (shared by concurrent callers). */
  async ensureReady (): Promise<void> {
    if (this.#signing !== null) return
    await this.refresh()
  }

  async #retryLoad (refreshIntervalMs: number | undefined, delayMs: number): Promise<boolean> {
    if (this.#closed) return false
    try {
      if (this.#signing === null) await this.refresh() // an ensureReady() call may have loaded it already
      this.#startRefresh(refreshIntervalMs)
      return true
    } catch (err) {
      if (this.#failures++ === 0) {
        this.#logger.warn({ cause: (err as Error).message, reason: 'keys_not_loaded' }, 'cannot load the signing keys: not ready, retrying in the background')
      }
      if (!this.#closed) {
        this.#timer = setTimeout(() => {
          void this.#retryLoad(refreshIntervalMs, Math.min(delayMs * 2, LOAD_RETRY_MAX_MS))
        }, delayMs)
        this.#timer.unref()
      }
      return false
    }
  }

  async #loadOnce (alg: SigningAlg): Promise<void> {
    const store = this.#store
    let records = await store.listKeys()
    if (records.length === 0) {
      const added = await store.addKey(generateKeyRecord(alg, this.#now), { onlyIfEmpty: true })
      // Lost the race to another instance: its key is the one everybody uses.
      records = await store.listKeys()
      if (added) this.#logger.info({ alg, kid: newest(records)?.kid }, 'created the first signing key')
    }
    if (store.kind === 'memory') {
      this.#logger.warn({ kid: newest(records)?.kid }, 'DEV MODE: ephemeral signing key in the memory store; every token dies with this process and no other instance can verify it')
    }
    this.#install(records)
  }

  #startRefresh (refreshIntervalMs: number | undefined): void {
    const interval = refreshIntervalMs ?? KEY_REFRESH_INTERVAL_MS
    if (interval > 0 && !this.#closed) {
      this.#timer = setInterval(() => { this.refresh().catch(() => { /* logged in refresh */ }) }, interval)
      this.#timer.unref()
    }
  }

  /** The newest non-retired key. */
  signingKey (): SigningKey {
    const entry = this.#signing
    // not loaded yet (loadLazy while the store is unreachable): a store condition, answered 503
    if (entry === null) throw new StoreUnavailableError('the signing keys are not loaded yet')
    entry.privateKey ??= createPrivateKey(entry.record.privateKeyPem)
    return { kid: entry.record.kid, alg: entry.record.alg, privateKey: entry.privateKey }
  }

  /** A published key by kid; null when unknown or past its retireAt. */
  verificationKey (kid: string): VerificationKey | null {
    const entry = this.#entries.get(kid)
    if (entry === undefined || !this.#published(entry)) return null
    return { kid, alg: entry.record.alg, publicKey: entry.publicKey }
  }

  /** The algorithms of the ring's keys: the verifier's allowlist. */
  algorithms (): Set<SigningAlg> {
    return new Set([...this.#entries.values()].filter((e) => this.#published(e)).map((e) => e.record.alg))
  }

  /** Published public keys, newest first (RFC 7517 JWK Set members). */
  jwks (): PublicJwk[] {
    return [...this.#entries.values()].filter((e) => this.#published(e)).reverse().map((e) => ({ ...e.jwk }))
  }

  /** Re-reads the store; on failure keeps the current set (and logs). Concurrent calls share one read. */
  async refresh (): Promise<void> {
    this.#inflight ??= (async () => {
      try {
        if (this.#signing === null && this.#alg !== null) {
          await this.#loadOnce(this.#alg)
          if (this.#failures > 0) this.#logger.info({ failedAttempts: this.#failures }, 'signing keys loaded: the store answers again')
        } else {
          this.#install(await this.#store.listKeys())
        }
      } catch (err) {
        // not loaded yet: the loadLazy loop logs once, not on every retry
        if (this.#signing !== null) this.#logger.warn({ err, reason: 'key_refresh_failed' }, 'could not re-read the signing keys; keeping the current set')
        throw err
      } finally {
        this.#inflight = null
      }
    })()
    return await this.#inflight
  }

  /**
   * Called when a token names a kid we do not know: another instance may have rotated.
   * Re-reads at most once per UNKNOWN_KID_REFETCH_MS; resolves whether the kid is now known. Never rejects.
   */
  async refreshForKid (kid: string): Promise<boolean> {
    const t = this.#now()
    if (t - this.#lastUnknownKidFetch >= UNKNOWN_KID_REFETCH_MS) {
      this.#lastUnknownKidFetch = t
      try { await this.refresh() } catch { return false }
    } else if (this.#inflight !== null) {
      try { await this.#inflight } catch { return false }
    }
    return this.verificationKey(kid) !== null
  }

  close (): void {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer) // also clears an interval
    this.#timer = null
  }

  #published (entry: Entry): boolean {
    const retireAt = entry.record.retireAt
    return retireAt === null || retireAt * 1000 > this.#now()
  }

  /** Swaps in a new set, reusing imported KeyObjects of unchanged kids. */
  #install (records: KeyRecord[]): void {
    const next = new Map<string, Entry>()
    for (const record of [...records].sort(byCreatedThenKid)) {
      const old = this.#entries.get(record.kid)
      if (old !== undefined && old.record.publicKeyPem === record.publicKeyPem && old.record.alg === record.alg) {
        next.set(record.kid, { ...old, record })
        continue
      }
      try {
        const publicKey = createPublicKey(record.publicKeyPem)
        next.set(record.kid, { record, publicKey, jwk: toPublicJwk(publicKey, record.kid, record.alg), privateKey: null })
      } catch (err) {
        // A corrupt record must not take the others down; it is simply not used.
        this.#logger.error({ err, kid: record.kid, reason: 'key_unusable' }, 'skipping an unusable signing key record')
      }
    }
    const current = [...next.values()].filter((e) => e.record.retireAt === null)
    const signing = current.at(-1) ?? [...next.values()].at(-1) ?? null
    if (signing === null) throw new Error('the store holds no usable signing key')
    this.#entries = next
    this.#signing = signing
  }
}


export interface KeyInfo {
  kid: string
  alg: SigningAlg
  createdAt: number
  retireAt: number | null
  current: boolean
}

/** For `portcullis keys list`: no key material at all. */
export async function listKeyInfo (store: Store): Promise<KeyInfo[]> {
  const records = [...await store.listKeys()].sort(byCreatedThenKid)
  const current = records.filter((r) => r.retireAt === null).at(-1)?.kid
  return records.map((r) => ({ kid: r.kid, alg: r.alg, createdAt: r.createdAt, retireAt: r.retireAt, current: r.kid === current }))
}

/**
 * For `portcullis keys rotate`: adds a key that signs at once (every instance picks it up within
 * KEY_REFRESH_INTERVAL_MS), retires the previous ones and prunes keys past their retireAt.
 * A retired key stays published for maxTokenLifetime (ACCESS_TOKEN_TTL + CLOCK_SKEW) plus one refresh
 * interval, because a lagging instance may still sign with it until its next refresh.
 */
export async function rotateKey (store: Store, alg: SigningAlg, opts: { maxTokenLifetime: number, now?: () => number }): Promise<KeyRecord> {
  const now = opts.now ?? Date.now
  const nowS = Math.floor(now() / 1000)
  const before = await store.listKeys()
  let record = generateKeyRecord(alg, now)
  // Same-second rotations must still order the new key last (byCreatedThenKid).
  const latest = newest(before)
  if (latest !== undefined && latest.createdAt >= record.createdAt) record = { ...record, createdAt: latest.createdAt + 1 }
  if (!await store.addKey(record)) throw new Error(`key ${record.kid} already exists`)
  const retireAt = nowS + opts.maxTokenLifetime + Math.ceil(KEY_REFRESH_INTERVAL_MS / 1000)
  for (const old of before) {
    if (old.retireAt !== null && old.retireAt <= nowS) await store.removeKey(old.kid)
    else if (old.retireAt === null) await store.updateKey({ ...old, retireAt })
  }
  return record
}

