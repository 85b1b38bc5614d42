// pino options shared by the server and the CLI. One access-log line per request is written by
// app.ts (onResponse); secrets never reach a log: Authorization, Cookie, tokens and passwords
// are redacted wherever they appear, and URLs are logged without their query string.
import type { Bindings, ChildLoggerOptions, Logger, LoggerOptions } from 'pino'

export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["proxy-authorization"]',
  'headers.authorization', 'headers.cookie',
  'req.headers.dpop', 'headers.dpop', // RFC 9449 proofs: bound to one request, but no business of a log
  'res.headers["set-cookie"]',
  '*.password', '*.client_secret', '*.secret', '*.token', '*.access_token', '*.refresh_token',
  '*.privateKeyPem', '*.passwordHash', '*.secretHash'
]

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      // never the query string: it may carry an access_token (RFC 6750 §2.3, RFC 9700 §4.3)
      req: (req: { method?: string; url?: string; id?: string }) => ({
        method: req.method, path: (req.url ?? '').split('?', 1)[0], id: req.id
      })
    }
  }
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type LogArgs = [obj: unknown, msg?: string, ...args: unknown[]]

/**
 * A request's logger (Fastify's childLoggerFactory): the pino child with the request's bindings
 * (`reqId`) is made only when something is logged through it at an enabled level. Making a child
 * serialises (and redacts) its bindings, per request; at LOG_LEVEL=warn most requests log nothing.
 */
export class RequestLogger {
  readonly #parent: Logger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  #child: Logger | null = null

  constructor (parent: Logger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }

  #logger (): Logger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }

  #log (level: Level, args: LogArgs): void {
    const child = this.#child
    if (child !== null) {
      (child[level] as (...a: LogArgs) => void)(...args)
      return
    }
    if (!this.#parent.isLevelEnabled(level)) return
    const [obj, ...rest] = args
    if (isPlainObject(obj) && !sharesKey(obj, this.#bindings)) {
      // the line a child would write (its bindings come first), without making one: the access log
      // writes one line per request at LOG_LEVEL=info
      (this.#parent[level] as (...a: LogArgs) => void)({ ...this.#bindings, ...obj }, ...rest)
      return
    }
    (this.#logger()[level] as (...a: LogArgs) => void)(...args)
  }

  get level (): string { return (this.#child ?? this.#parent).level }
  set level (level: string) { this.#logger().level = level }
  isLevelEnabled (level: string): boolean { return (this.#child ?? this.#parent).isLevelEnabled(level) }
  bindings (): Bindings { return this.#logger().bindings() }
  child (bindings: Bindings, options?: ChildLoggerOptions): Logger { return this.#logger().child(bindings, options) }
  fatal (...args: LogArgs): void { this.#log('fatal', args) }
  error (...args: LogArgs): void { this.#log('error', args) }
  warn (...args: LogArgs): void { this.#log('warn', args) }
  info (...args: LogArgs): void { this.#log('info', args) }
  debug (...args: LogArgs): void { this.#log('debug', args) }
  trace (...args: LogArgs): void { this.#log('trace', args) }
  silent (): void {}
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype
}

function sharesKey (a: object, b: object): boolean {
  for (const key in b) if (Object.hasOwn(a, key)) return true
  return false
}

/** Fastify's childLoggerFactory for a pino logger: a RequestLogger, unless the route sets its own level or serializers. */
export function requestLoggerFactory (logger: Logger, bindings: Bindings, options: ChildLoggerOptions): Logger {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options)
  return new RequestLogger(logger, bindings, options) as unknown as Logger
}
