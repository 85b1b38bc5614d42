// Verify cost of an RFC 9068 access token: the node:crypto verifier the gateway had (bench/lib/
// jwt-node-crypto.ts) against the current one (strict pre-check + fast-jwt, src/oauth/jwt.ts), in one
// process, interleaved rounds (A B A B ...) so machine drift hits both alike. The token cache is not
// involved (verifyAccessToken is called directly). Also: signing, node:crypto vs fast-jwt createSigner.
//   npx tsx bench/jwt-verify.ts                 # ES256, 20 000 verifies per variant
//   BENCH_ALG=EdDSA BENCH_N=40000 npx tsx bench/jwt-verify.ts
// A benchmark, not a test: it prints numbers and asserts only that both variants agree.
import { createSigner } from 'fast-jwt'
import { verifyAccessToken as verifyNow, newJti, signAccessToken, type AccessTokenClaims } from '../src/oauth/jwt.js'
import { KeyRing } from '../src/oauth/keys.js'
import { MemoryStore, type SigningAlg } from '../src/store/index.js'
import { verifyAccessToken as verifyBefore } from './lib/jwt-node-crypto.js'

const ALG = (process.env.BENCH_ALG ?? 'ES256') as SigningAlg
const N = Number(process.env.BENCH_N ?? 20_000)
const ROUNDS = 10
const quiet = { info () {}, warn () {}, error () {} }
const OPTS = { issuer: 'https://as.example', audience: 'portcullis', clockSkew: 30 }

const store = new MemoryStore()
const ring = await KeyRing.load(store, { alg: ALG, logger: quiet, refreshIntervalMs: 0 })
const nowS = Math.floor(Date.now() / 1000)
const claims = (): AccessTokenClaims => ({
  iss: OPTS.issuer, sub: 'alice', aud: 'portcullis', exp: nowS + 3600, iat: nowS, jti: newJti(), client_id: 'web', scope: 'read orders:read', sid: newJti()
})
// A few distinct tokens, cycled, as at the edge (no verifier caches results: fast-jwt's cache is off).
const tokens = Array.from({ length: 16 }, () => signAccessToken(ring, claims()))

type Fn = (token: string) => Promise<unknown>
const variants: Array<[string, Fn]> = [
  ['before: node:crypto', (tok) => verifyBefore(ring, tok, OPTS)],
  ['after: pre-check + fast-jwt', (tok) => verifyNow(ring, tok, OPTS)]
]
for (const [name, fn] of variants) { // warm-up, and both must accept the same tokens
  for (let i = 0; i < 2000; i++) await fn(tokens[i % tokens.length] as string)
  console.log(`warm: ${name} ok`)
}

const per = Math.ceil(N / ROUNDS)
const samples = new Map<string, number[]>(variants.map(([n]) => [n, []]))
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of r % 2 === 0 ? variants : [...variants].reverse()) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < per; i++) await fn(tokens[i % tokens.length] as string)
    samples.get(name)?.push(Number(process.hrtime.bigint() - t0) / per / 1000)
  }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2 }
console.log(`\n${ALG} verify, ${per * ROUNDS} per variant in ${ROUNDS} interleaved rounds (µs/verify, median of rounds; min–max)`)
const base = median(samples.get(variants[0]![0]) ?? [])
for (const [name] of variants) {
  const xs = samples.get(name) ?? []
  const m = median(xs)
  console.log(`  ${name.padEnd(30)} ${m.toFixed(2).padStart(7)}  (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})  ${m === base ? '' : `${((m / base - 1) * 100).toFixed(1)}% vs before`}`)
}

// Signing: node:crypto (what signAccessToken does) vs a cached fast-jwt createSigner for the same key.
const key = ring.signingKey()
const signer = createSigner({ key: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: ALG, kid: key.kid, header: { alg: ALG, typ: 'at+jwt' } })
const signVariants: Array<[string, () => string]> = [
  ['node:crypto (signAccessToken)', () => signAccessToken(ring, claims())],
  ['fast-jwt createSigner', () => signer(claims())]
]
const signSamples = new Map<string, number[]>(signVariants.map(([n]) => [n, []]))
const signPer = Math.ceil(per / 2)
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of r % 2 === 0 ? signVariants : [...signVariants].reverse()) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < signPer; i++) fn()
    signSamples.get(name)?.push(Number(process.hrtime.bigint() - t0) / signPer / 1000)
  }
}
console.log(`\n${ALG} sign, ${signPer * ROUNDS} per variant (µs/sign, median of rounds)`)
for (const [name, xs] of signSamples) console.log(`  ${name.padEnd(30)} ${median(xs).toFixed(2).padStart(7)}`)
ring.close()
