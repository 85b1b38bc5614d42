// Records and timing helpers the store contract files share (test/store/contract*.ts).
import type { ClientRecord, RefreshTokenRecord, UserRecord } from '../../src/store/types.js'

export const nowS = (): number => Math.floor(Date.now() / 1000)
export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export function user (name: string, over: Partial<UserRecord> = {}): UserRecord {
  return { name, passwordHash: '$2b$10$hash-of-' + name, scopes: ['read'], disabled: false, createdAt: 1_700_000_000, ...over }
}

export function client (id: string, over: Partial<ClientRecord> = {}): ClientRecord {
  return { id, secretHash: null, grants: ['refresh_token'], scopes: ['read'], disabled: false, createdAt: 1_700_000_000, ...over }
}

export function refresh (over: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return { sid: 'sid-1', sub: 'alice', clientId: 'app', scope: ['read'], issuedAt: nowS(), expiresAt: nowS() + 3600, ...over }
}

/** Polls `cond` every 5 ms until it holds, or fails after `ms`. */
export async function until (cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}
