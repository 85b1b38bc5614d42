// REFRESH_GRACE (issue 12 item 6): a rotation keeps its successor for a short window so a client
// whose reply was lost can retry the old token and get the SAME successor. The store holds only
// hashes of refresh tokens, and this keeps it so: the successor is kept sealed (AES-256-GCM) under a
// key derived from the old token, which only its holder knows, and only for the window.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

const INFO = 'portcullis refresh grace v1'

function keyOf (oldToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', oldToken, Buffer.alloc(0), INFO, 32))
}

/** The successor sealed under the old token: base64url(iv | ciphertext | tag). */
export function sealSuccessor (oldToken: string, successor: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', keyOf(oldToken), iv)
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()])
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')
}

/** The successor, or null when `sealed` was not sealed under this token (or is damaged). */
export function openSuccessor (oldToken: string, sealed: string): string | null {
  const raw = Buffer.from(sealed, 'base64url')
  if (raw.length < 12 + 16 + 1) return null
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(oldToken), raw.subarray(0, 12))
    decipher.setAuthTag(raw.subarray(raw.length - 16))
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8')
  } catch {
    return null
  }
}
