import { ERRORS, type ErrorCode } from './codes.js'

/**
 * The only error type that reaches the error handler with a public meaning.
 * `code` picks the row in ERRORS; `description` overrides the public text (ASCII, no internals);
 * `detail` and `cause` go to the log only.
 */
export class GatewayError extends Error {
  override readonly name = 'GatewayError'
  readonly code: ErrorCode
  readonly status: number
  readonly description: string
  /** Extra response headers, e.g. WWW-Authenticate, Retry-After, Allow. */
  readonly headers: Record<string, string>
  /** Extra public body members (RFC 6750 `scope`). */
  readonly extra: Record<string, string>
  readonly detail: string | undefined

  constructor (code: ErrorCode, opts: {
    description?: string
    headers?: Record<string, string>
    extra?: Record<string, string>
    detail?: string
    cause?: unknown
  } = {}) {
    const spec = ERRORS[code]
    super(opts.detail ?? spec.description, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.code = code
    this.status = spec.status
    this.description = opts.description ?? spec.description
    this.headers = opts.headers ?? {}
    this.extra = opts.extra ?? {}
    this.detail = opts.detail
  }

  /** The public JSON body. */
  body (): Record<string, string> {
    return { error: ERRORS[this.code].error, error_description: this.description, ...this.extra }
  }
}
