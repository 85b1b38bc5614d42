// Shared by `portcullis users | clients | keys`: open the Redis store named by REDIS_URL, print
// JSON or text, read a secret from stdin or a hidden prompt, and fail with one line on stderr.
//
// Exit codes: 0 done; 1 refused or failed (unknown user, store unavailable, bad environment);
// 2 usage (bad arguments or options, invalid name, scope, grant or password).
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import type { Command } from 'commander'
import type { Config } from '../config/env.js'
import { AccountError } from '../oauth/accounts.js'
import { EmptySecretError, SecretTooLongError } from '../oauth/passwords.js'
import { StoreUnavailableError, type Store } from '../store/types.js'

export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

/** A refusal the CLI reports as one line with this exit code. */
export class CliError extends Error {
  override readonly name = 'CliError'
  constructor (message: string, readonly exitCode = EXIT_FAILURE) {
    super(message)
  }
}

/** Writes `portcullis: <message>` on stderr and sets the exit code. */
export function fail (message: string, exitCode = EXIT_FAILURE): void {
  process.stderr.write(`portcullis: ${message.split('\n')[0] ?? ''}\n`)
  process.exitCode = exitCode
}

function report (err: unknown): void {
  if (err instanceof CliError) return fail(err.message, err.exitCode)
  if (err instanceof AccountError) return fail(err.message, err.code === 'exists' || err.code === 'not_found' ? EXIT_FAILURE : EXIT_USAGE)
  if (err instanceof SecretTooLongError || err instanceof EmptySecretError) return fail(err.message, EXIT_USAGE)
  if (err instanceof Error && err.name === 'ConfigError') return fail(err.message) // env.ts is loaded lazily
  if (err instanceof StoreUnavailableError) return fail(`store unavailable: ${err.message}`)
  fail(`unexpected error: ${err instanceof Error ? err.message : String(err)}`)
}

/** Wraps a commander action: any error becomes one line on stderr and a non-zero exit. */
export function action<A extends unknown[]> (fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args)
    } catch (err) {
      report(err)
    }
  }
}

/**
 * Applies our conventions to a command and its subcommands (addCommand does not inherit them):
 * commander's own errors print as `portcullis: …` on stderr and exit 2; help still exits 0.
 */
export function cliConventions (cmd: Command): Command {
  cmd.configureOutput({
    writeErr: (s) => process.stderr.write(s),
    // one line: commander puts its "(Did you mean …?)" hint on a line of its own
    outputError: (s, write) => { write(`portcullis: ${s.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')}\n`) }
  })
  cmd.exitOverride((err) => { process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE) })
  for (const sub of cmd.commands) cliConventions(sub)
  return cmd
}

/**
 * Loads the environment and requires a Redis store (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES):
 * an in-memory store would lose every change at exit.
 * The config module (TypeBox) is imported here, not at the top: it is most of the start-up time, and
 * usage errors are reported without it.
 */
export async function cliConfig (env: NodeJS.ProcessEnv = process.env): Promise<Readonly<Config>> {
  const { loadConfig, hasRedis } = await import('../config/env.js')
  const config = loadConfig(env)
  if (!hasRedis(config)) {
    throw new CliError('REDIS_URL is not set (nor REDIS_SENTINELS, nor REDIS_CLUSTER_NODES): users, clients and keys live in the shared Redis store (an in-memory store would lose them at exit)')
  }
  return config
}

/** Opens the store, checks that it answers within REDIS_TIMEOUT, runs `fn`, and always closes it. */
export async function withStore<T> (fn: (store: Store, config: Readonly<Config>) => Promise<T>): Promise<T> {
  const config = await cliConfig()
  // loaded here, not at the top: ioredis is a large part of the start-up time, and --help needs none of it
  const { createStore, describeTarget, redisTargetOf, RedisStore } = await import('../store/index.js')
  const timeoutMs = config.REDIS_TIMEOUT * 1000
  let target
  try {
    target = redisTargetOf(config)
  } catch (err) {
    throw new CliError((err as Error).message)
  }
  if (target === null) throw new CliError('no Redis store configured')
  const store = createStore({ redis: target, timeoutMs })
  try {
    // No offline queue in the Redis store: wait for the connection before the first command.
    const ready = store instanceof RedisStore ? await store.ready(timeoutMs) : true
    if (!ready) throw new CliError(`store unavailable: no answer from ${describeTarget(target)} within ${config.REDIS_TIMEOUT} s`)
    return await fn(store, config)
  } finally {
    await store.close()
  }
}

/** Prints `data` as JSON with --json, otherwise the text lines. */
export function output (json: boolean | undefined, data: unknown, text: () => string | string[]): void {
  if (json === true) {
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`)
    return
  }
  const t = text()
  const lines = Array.isArray(t) ? t : [t]
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`)
}

/** Left-aligned columns for `list` commands. */
export function table (header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(header), ...rows.map(line)]
}

export function isoTime (epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.000Z$/, 'Z')
}

const MAX_SECRET_INPUT = 4096

/** The first line of a piped stdin, without its line ending. */
async function readPipedLine (): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer
    const nl = buf.indexOf(0x0a)
    chunks.push(nl >= 0 ? buf.subarray(0, nl) : buf)
    size += buf.length
    if (nl >= 0) break // leaving the loop destroys stdin: the rest is not read
    if (size > MAX_SECRET_INPUT) throw new CliError(`password input is longer than ${MAX_SECRET_INPUT} bytes`, EXIT_USAGE)
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '')
}

/** Prompts on the terminal without echo (the prompt goes to stderr). */
async function promptHidden (prompt: string): Promise<string> {
  let muted = false
  const output = new Writable({
    write (chunk: Buffer, _enc, cb) {
      if (!muted) process.stderr.write(chunk)
      cb()
    }
  })
  const rl = createInterface({ input: process.stdin, output, terminal: true })
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('SIGINT', () => { reject(new CliError('interrupted', 130)) })
      rl.once('close', () => { reject(new CliError('no password given', EXIT_USAGE)) })
      rl.question(prompt, resolve)
      muted = true // the prompt is written; hide what is typed
    })
  } finally {
    rl.close()
    process.stderr.write('\n')
  }
}

/**
 * Reads a password: from stdin when it is not a terminal (one line, line ending stripped), else from
 * a prompt without echo, asked twice when `confirm`. Never from argv.
 */
export async function readSecret (opts: { confirm?: boolean } = {}): Promise<string> {
  let secret: string
  if (process.stdin.isTTY !== true) {
    secret = await readPipedLine()
    if (secret === '') throw new CliError('no password on stdin: pipe one line, or run in a terminal to be prompted', EXIT_USAGE)
    return secret
  }
  secret = await promptHidden('Password: ')
  if (opts.confirm === true && await promptHidden('Repeat password: ') !== secret) {
    throw new CliError('the passwords do not match', EXIT_USAGE)
  }
  return secret
}
