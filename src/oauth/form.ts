// The request body of /oauth/*: application/x-www-form-urlencoded only (RFC 6749 §3.2, RFC 7009 §2.1,
// RFC 7662 §2.1). Registered inside the oauth plugin's scope, so it never touches proxied routes.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { GatewayError } from '../errors/gateway-error.js'

/** Parameters of one request: each name at most once, empty values dropped. */
export class FormParams {
  readonly #values: Map<string, string>
  constructor (values: Map<string, string>) {
    this.#values = values
  }

  /** The value, or undefined when absent or sent empty (RFC 6749 §3.2: empty = omitted). */
  get (name: string): string | undefined {
    return this.#values.get(name)
  }

  /** Every parameter sent with a value. */
  entries (): IterableIterator<[string, string]> {
    return this.#values.entries()
  }
}

/** Small: the largest legitimate request (a refresh with a long scope) is a few hundred bytes. */
export const FORM_BODY_LIMIT = 8 * 1024

/** Parses a form body; a repeated parameter is invalid_request (RFC 6749 §3.2: MUST NOT be included more than once). */
export function parseForm (body: string): FormParams {
  const values = new Map<string, string>()
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(body)) {
    if (seen.has(name)) {
      // RFC 6749 §3.2: request parameters MUST NOT be included more than once
      throw new GatewayError('invalid_request', { description: `Parameter ${safeName(name)} is repeated` })
    }
    seen.add(name)
    if (value !== '') values.set(name, value)
  }
  return new FormParams(values)
}

/**
 * Inside the caller's (encapsulated) scope: form bodies are parsed, every other content type is
 * refused with invalid_request (SECURITY.md T02), bodies over FORM_BODY_LIMIT get 413 (T10).
 */
export function registerFormParser (app: FastifyInstance, bodyLimit: number = FORM_BODY_LIMIT): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    try {
      done(null, parseForm(body as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })
  app.addContentTypeParser('*', { bodyLimit }, (_req, _payload, done) => {
    done(new GatewayError('invalid_request', { description: 'The body must be application/x-www-form-urlencoded' }), undefined)
  })
}

/** The parsed body; a request without one (no body, no content type) is invalid_request. */
export function formOf (request: FastifyRequest): FormParams {
  if (request.body instanceof FormParams) return request.body
  throw new GatewayError('invalid_request', { description: 'The body must be application/x-www-form-urlencoded' })
}

/** Parameter names echoed in descriptions: restricted ASCII (RFC 6749 §5.2), short. */
function safeName (name: string): string {
  return /^[A-Za-z0-9_.-]{1,40}$/.test(name) ? name : '(unnamed)'
}

/** Names whose values are secrets or grants: never accepted in the URL. */
const SECRET_PARAMS = ['client_secret', 'password', 'refresh_token', 'token', 'access_token', 'client_assertion', 'code', 'assertion']

/**
 * RFC 6749 §2.3.1 / §3.2: credentials MUST NOT be in the request URI (it ends up in logs and
 * histories). A request carrying one is refused whatever its body says (SECURITY.md T03).
 */
export function refuseQueryCredentials (request: FastifyRequest): void {
  const q = request.url.indexOf('?')
  if (q === -1) return
  const params = new URLSearchParams(request.url.slice(q + 1))
  for (const name of SECRET_PARAMS) {
    if (params.has(name)) {
      throw new GatewayError('invalid_request', { description: 'Credentials must not be sent in the query string' })
    }
  }
}
