// DPoP server nonces (RFC 9449 §8, §9) that any instance can check without a store read per
// request: a nonce is a time slot and an HMAC of it under a secret every instance shares
// (store.sharedSecret, created once with SET NX, read once per instance). A nonce is accepted in
// its own slot and the next one, so it lives between one and two slots; DPOP_NONCE=1 requires one.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Store } from '../store/types.js'

const SECRET_NAME = 'dpop-nonce'

export class DpopNonces {
  #key: Buffer | null = null
  #loading: Promise<Buffer> | null = null

  /** `slotSeconds`: how long one slot lasts (the DPOP_IAT_WINDOW). */
  constructor (private readonly store: Store, private readonly slotSeconds: number) {}

  /** Loads the shared secret (once per instance); rejects with the store's error when it cannot answer. */
  async ready (): Promise<void> {
    if (this.#key !== null) return
    this.#loading ??= this.store.sharedSecret(SECRET_NAME).then((s) => Buffer.from(s, 'base64url'))
    try {
      this.#key = await this.#loading
    } finally {
      this.#loading = null
    }
  }

  /** A fresh nonce for the current slot (after ready()). */
  issue (nowS: number): string {
    const slot = Math.floor(nowS / this.slotSeconds)
    return `${slot.toString(36)}.${this.#mac(slot)}`
  }

  /** Whether `nonce` is ours, of this slot or the previous one (after ready()). */
  check (nonce: unknown, nowS: number): boolean {
    if (typeof nonce !== 'string' || nonce.length > 64) return false
    const dot = nonce.indexOf('.')
    const slot = parseInt(nonce.slice(0, dot), 36)
    const current = Math.floor(nowS / this.slotSeconds)
    if (dot < 1 || !Number.isSafeInteger(slot) || slot.toString(36) !== nonce.slice(0, dot)) return false
    if (slot !== current && slot !== current - 1) return false
    const given = Buffer.from(nonce.slice(dot + 1))
    const want = Buffer.from(this.#mac(slot))
    return given.length === want.length && timingSafeEqual(given, want)
  }

  #mac (slot: number): string {
    if (this.#key === null) throw new Error('DpopNonces used before ready()')
    return createHmac('sha256', this.#key).update(`dpop-nonce:${slot}`).digest('base64url').slice(0, 32)
  }
}
