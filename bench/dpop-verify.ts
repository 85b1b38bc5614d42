// CPU cost of one DPoP proof check at the edge (RFC 9449 §4.3, src/oauth/dpop.ts: header checks, jose
// jwtVerify with EmbeddedJWK, claims, RFC 7638 thumbprint) next to one access-token verify
// (src/oauth/jwt.ts), in one process, interleaved rounds. The jti claim (one store round trip) is
// not included: that is network, not CPU. The bearer path never runs the proof check.
//   npx tsx bench/dpop-verify.ts              # ES256 proofs, 5 000 per round
//   BENCH_ALG=EdDSA BENCH_N=10000 npx tsx bench/dpop-verify.ts
// A benchmark, not a test: it prints numbers.
import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { accessTokenHash, verifyDpopProof } from '../src/oauth/dpop.js'
import { newJti, signAccessToken, verifyAccessToken } from '../src/oauth/jwt.js'
import { KeyRing } from '../src/oauth/keys.js'
import { MemoryStore } from '../src/store/index.js'

const ALG = process.env.BENCH_ALG ?? 'ES256'
const N = Number(process.env.BENCH_N ?? 5000)
const ROUNDS = 6
const HTU = 'https://api.example/orders/42'
const quiet = { info () {}, warn () {}, error () {} }
const OPTS = { issuer: 'https://as.example', audience: 'portcullis', clockSkew: 30 }

const ring = await KeyRing.load(new MemoryStore(), { alg: 'ES256', logger: quiet, refreshIntervalMs: 0 })
const nowS = Math.floor(Date.now() / 1000)
const token = signAccessToken(ring, { iss: OPTS.issuer, sub: 'alice', aud: 'portcullis', exp: nowS + 3600, iat: nowS, jti: newJti(), client_id: 'app', scope: 'read' })
const { privateKey, publicKey } = await generateKeyPair(ALG)
const jwk = await exportJWK(publicKey)
const proofs = await Promise.all(Array.from({ length: 64 }, async () => await new SignJWT({ jti: randomUUID(), htm: 'GET', htu: HTU, iat: nowS, ath: accessTokenHash(token) })
  .setProtectedHeader({ alg: ALG, typ: 'dpop+jwt', jwk }).sign(privateKey)))

const variants: Array<[string, (i: number) => Promise<unknown>]> = [
  ['access token verify (ES256)', async () => await verifyAccessToken(ring, token, OPTS)],
  [`DPoP proof check (${ALG})`, async (i) => await verifyDpopProof(proofs[i % proofs.length]!, { htm: 'GET', htu: HTU, now: nowS, iatWindow: 60, ath: accessTokenHash(token) })]
]
const results = new Map<string, number[]>(variants.map(([name]) => [name, []]))
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of variants) {
    const start = process.cpuUsage()
    for (let i = 0; i < N; i++) await fn(i)
    const used = process.cpuUsage(start)
    results.get(name)!.push((used.user + used.system) / N)
  }
}
for (const [name, us] of results) {
  const sorted = [...us].sort((a, b) => a - b)
  console.log(`${name.padEnd(32)} median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} µs CPU, best ${sorted[0]!.toFixed(1)} µs`)
}
