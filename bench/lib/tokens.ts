// bench/run.ts's tokens: from the gateway's token endpoint, minted with its key, forged and tampered.
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto'
import { CLIENT, PASSWORD, SCOPE, USER } from './config.js'
import type { Ctx } from './context.js'
import { http } from './http.js'

// ---------------------------------------------------------------- tokens
export function decodePart (token: string, i: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[i] as string, 'base64url').toString()) as Record<string, unknown>
}
/** Same header and claims, signed by a key the gateway never published. */
export function forge (token: string): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const input = token.split('.').slice(0, 2).join('.')
  return `${input}.${cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
}
/** One signature byte flipped. */
export function tamper (token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const sig = Buffer.from(s, 'base64url')
  sig[5] = (sig[5] as number) ^ 0x01
  return `${h}.${p}.${sig.toString('base64url')}`
}
export async function passwordGrant (port: number, scope = SCOPE): Promise<string> {
  const r = await http(port, '/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', client_id: CLIENT, username: USER, password: PASSWORD, scope }).toString()
  })
  if (r.status !== 200) throw new Error(`password grant failed: ${r.status} ${r.body}`)
  return (JSON.parse(r.body) as { access_token: string }).access_token
}

/** Valid tokens of this gateway, signed with its current key (read from Redis, `portcullis:keys`). */
export async function mintTokens (ctx: Ctx, n: number, expOffsetS = 900): Promise<string[]> {
  const { createStore } = await import('../../src/store/index.js')
  const { KeyRing } = await import('../../src/oauth/keys.js')
  const { signAccessToken, newJti } = await import('../../src/oauth/jwt.js')
  const store = createStore({ redisUrl: ctx.redis.url, timeoutMs: 5000 })
  const silent = { info: () => {}, warn: () => {}, error: () => {} }
  try {
    await (store as { ready?: (ms?: number) => Promise<boolean> }).ready?.(5000)
    const ring = await KeyRing.load(store, { alg: 'ES256', logger: silent, refreshIntervalMs: 0 })
    const template = decodePart(ctx.tokens[0] as string, 1)
    const now = Math.floor(Date.now() / 1000)
    const outTokens: string[] = []
    for (let i = 0; i < n; i++) {
      outTokens.push(signAccessToken(ring, {
        ...template,
        iat: expOffsetS < 0 ? now + expOffsetS - 900 : now,
        exp: now + expOffsetS,
        jti: newJti()
      } as unknown as Parameters<typeof signAccessToken>[1]))
    }
    ring.close()
    return outTokens
  } finally {
    await (store as { close?: () => Promise<void> }).close?.()
  }
}
