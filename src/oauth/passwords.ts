// Password and client-secret hashing with bcrypt (the native `bcrypt` package: README "Libraries" says why not bcryptjs).
//
// bcrypt only reads the first 72 bytes of its input. We never let that truncate silently:
// hashSecret refuses a longer secret, and verifySecret answers false for one (issue 3 §1).
//
// Unknown users and clients must cost the same as known ones (issue 3 §2: "an unknown user and a
// wrong password get the same response in about the same time"), so verifySecret(plain, null)
// compares against a dummy hash of the same cost as real hashes. The dummy's cost is simply the last
// cost this process saw, from whichever came last of:
//   - setDummyCost(cost)   — call it at start with BCRYPT_COST (it also pre-computes the dummy);
//   - hashSecret(_, cost)  — the cost new hashes get;
//   - verifySecret(_, hash) with a real hash — that hash's own cost.
// Before any of these it is DEFAULT_DUMMY_COST (BCRYPT_COST's default). Dummies are cached per cost.
//
// In the gateway the hashing runs in a piscina pool of worker threads (bcrypt-worker.ts;
// configurePasswordPool with BCRYPT_THREADS, default one per core), never on the event loop: a bcrypt
// of cost 10 is ~70 ms of CPU that would otherwise stall every proxied request. The pool starts on
// first use with one worker; more start only while every worker is busy, up to BCRYPT_THREADS, and
// those beyond the first stop after IDLE_WORKER_MS without work (each worker is a V8 isolate of
// ~10-30 MB: an idle gateway keeps one). Idle workers are unref'd, so nothing keeps a process alive
// (closePasswordPool() stops them at once). Each worker lowers its own thread's OS priority to
// BCRYPT_NICE (default 10; Linux nice values are per thread), so on a contended core the event loop
// is scheduled first: measured in `npm run bench` phase (a), 20 logins/s beside proxied traffic raised
// the proxied p99 ×5.25 at nice 0, ×3.79 at 10 and ×3.05 at 19 (bench/README.md). BCRYPT_SCHED_IDLE=1
// puts them under Linux's SCHED_IDLE policy instead, which a waking event loop preempts at once; a
// worker starved there (bcrypt-worker.ts STARVED_WAIT_RATIO) goes back to BCRYPT_NICE for a while.
// Without configurePasswordPool (the short-lived CLI) the hashing runs on libuv's thread pool through
// bcrypt's async calls: no event loop serves anyone there, and a worker would only add its
// start-up time.
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { Piscina } from 'piscina'
import type { BcryptTask, BcryptWorkerData } from './bcrypt-worker.js'

/** bcrypt ignores every input byte past the 72nd. */
export const MAX_SECRET_BYTES = 72

/** The secret is longer than MAX_SECRET_BYTES in UTF-8; it is refused rather than truncated. */
export class SecretTooLongError extends Error {
  override readonly name = 'SecretTooLongError'
  constructor () {
    super(`password or secret is longer than ${MAX_SECRET_BYTES} bytes (UTF-8)`)
  }
}

/** The secret is the empty string. */
export class EmptySecretError extends Error {
  override readonly name = 'EmptySecretError'
  constructor () {
    super('password or secret is empty')
  }
}

const DEFAULT_DUMMY_COST = 10
const MIN_COST = 4
const MAX_COST = 31

let dummyCost = DEFAULT_DUMMY_COST
const dummies = new Map<number, Promise<string>>()

// Shipped as dist/oauth/bcrypt-worker.js beside this file; the tests run the TypeScript sources,
// where this file is passwords.ts and the worker is bcrypt-worker.ts.
const FROM_SOURCES = import.meta.url.endsWith('.ts')
const WORKER = new URL(FROM_SOURCES ? './bcrypt-worker.ts' : './bcrypt-worker.js', import.meta.url)
let poolThreads = 0 // 0: in-thread until configured
let poolNice = 0
let poolIdle = false
/** Workers beyond the first stop after this long without a task. */
const IDLE_WORKER_MS = 30_000
let pool: Piscina | null = null

/**
 * Moves bcrypt to `threads` worker threads (BCRYPT_THREADS) running at OS nice value `nice`
 * (BCRYPT_NICE, 0-19; default 0), or under SCHED_IDLE when `idle` (BCRYPT_SCHED_IDLE); takes effect
 * for a pool not started yet.
 */
export function configurePasswordPool (opts: { threads: number, nice?: number, idle?: boolean }): void {
  if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new TypeError(`bcrypt threads must be a positive integer, got ${opts.threads}`)
  const nice = opts.nice ?? 0
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new TypeError(`bcrypt nice must be an integer in 0..19, got ${nice}`)
  poolThreads = opts.threads
  poolNice = nice
  poolIdle = opts.idle ?? false
}

/** Stops the worker threads (the next hash starts a new pool). */
export async function closePasswordPool (): Promise<void> {
  const p = pool
  pool = null
  await p?.destroy()
}

/** What the pool has done (tests, diagnostics): worker threads running, their most, and tasks completed. */
export function passwordPoolStats (): { threads: number, maxThreads: number, completed: number } {
  return { threads: pool?.threads.length ?? 0, maxThreads: poolThreads, completed: pool?.completed ?? 0 }
}

async function workers (): Promise<Piscina> {
  if (pool !== null) return pool
  // piscina loads with the first pool: the short-lived CLI hashes in-thread and never needs it
  const { Piscina } = await import('piscina')
  // Compiled JavaScript needs no loader: the workers inherit the process's options (execArgv not
  // given; piscina would otherwise hand process.execArgv over explicitly, and a Worker refuses every V8
  // option in an explicit list: `node --max-old-space-size=512 bin/portcullis.js serve` made every
  // login a 500, ERR_WORKER_INVALID_EXEC_ARGV). Run from the TypeScript sources (tests), a worker
  // thread needs tsx, resolved from this file rather than from the working directory (which may be
  // anywhere), and nothing else of the parent's: neither a test runner's own --import hooks (~0.3 s of
  // CPU in every worker) nor V8 options. (only there: tsx is a dev dependency)
  const execArgv = FROM_SOURCES ? ['--import', import.meta.resolve('tsx')] : undefined
  const workerData: BcryptWorkerData = { nice: poolNice, idle: poolIdle }
  pool ??= new Piscina({ filename: fileURLToPath(WORKER), minThreads: 1, maxThreads: poolThreads, idleTimeout: IDLE_WORKER_MS, workerData, ...(execArgv !== undefined && { execArgv }) })
  return pool
}

/** The native module, loaded on first use: a CLI command that hashes nothing (`--help`) and the gateway's main thread never load it. */
async function inThread (): Promise<typeof import('bcrypt')> {
  return (await import('bcrypt')).default
}

async function bcryptHash (plain: string, cost: number): Promise<string> {
  if (poolThreads === 0) return await (await inThread()).hash(plain, cost)
  return await (await workers()).run({ op: 'hash', plain, cost } satisfies BcryptTask) as string
}

async function bcryptCompare (plain: string, hash: string): Promise<boolean> {
  if (poolThreads === 0) return await (await inThread()).compare(plain, hash)
  return await (await workers()).run({ op: 'compare', plain, hash } satisfies BcryptTask) as boolean
}

/** UTF-8 length as bcrypt gets it (a lone surrogate counts 3: the U+FFFD a JavaScript string becomes in UTF-8). */
export function secretBytes (plain: string): number {
  return Buffer.byteLength(plain, 'utf8')
}

function checkCost (cost: number): void {
  if (!Number.isInteger(cost) || cost < MIN_COST || cost > MAX_COST) {
    throw new TypeError(`bcrypt cost must be an integer in ${MIN_COST}..${MAX_COST}, got ${cost}`)
  }
}

function dummyHash (cost: number): Promise<string> {
  let dummy = dummies.get(cost)
  if (dummy === undefined) {
    // a random secret nobody knows: the compare against it can never succeed by accident
    dummy = bcryptHash(randomBytes(24).toString('base64url'), cost)
    dummy.catch(() => { dummies.delete(cost) }) // a failed pool start is retried, not cached
    dummies.set(cost, dummy)
  }
  return dummy
}

/** Sets the cost of the dummy hash used for unknown users and clients, and pre-computes it. */
export function setDummyCost (cost: number): Promise<void> {
  checkCost(cost)
  dummyCost = cost
  return dummyHash(cost).then(() => undefined)
}

/** bcrypt hash ($2b$); refuses an empty secret (EmptySecretError) and one over 72 UTF-8 bytes (SecretTooLongError), never truncates. */
export async function hashSecret (plain: string, cost: number): Promise<string> {
  checkCost(cost)
  if (plain.length === 0) throw new EmptySecretError()
  if (secretBytes(plain) > MAX_SECRET_BYTES) throw new SecretTooLongError()
  dummyCost = cost
  return await bcryptHash(plain, cost)
}

/** bcrypt's modular crypt format: `$2b$10$` + 22 characters of salt + 31 of hash, in bcrypt's base64. */
const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/

function costOf (hash: string): number | null {
  const cost = Number(BCRYPT_HASH.exec(hash)?.[1] ?? NaN)
  return Number.isInteger(cost) && cost >= MIN_COST && cost <= MAX_COST ? cost : null
}

/**
 * Constant-effort check. With hash null (unknown user or client), a malformed hash, an empty input or
 * one over 72 bytes, it still runs one bcrypt compare against the dummy hash, then returns false.
 */
export async function verifySecret (plain: string, hash: string | null): Promise<boolean> {
  const cost = hash === null ? null : costOf(hash)
  if (cost !== null) dummyCost = cost
  const usable = plain.length > 0 && secretBytes(plain) <= MAX_SECRET_BYTES
  if (hash === null || cost === null || !usable) {
    await bcryptCompare(usable ? plain : 'x', await dummyHash(dummyCost))
    return false
  }
  // `$2y$` (PHP's name for the corrected algorithm) is `$2b$` for every input bcrypt reads (at most 72
  // bytes); the library knows only `$2a$`/`$2b$`, and bcryptjs before it verified all three
  return await bcryptCompare(plain, hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash)
}
