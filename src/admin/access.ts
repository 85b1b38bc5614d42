// GET /admin/access?client=ID | ?user=NAME | ?scopes=a+b: every route and method of the running map
// reachable with those scopes, public ones marked; the same JSON as `portcullis access --json`
// (src/access/reach.ts). For the admin listener only, never the proxy port. Refusals are answered
// here, as JSON, whatever error handler the instance has: 400 `invalid_request` for a bad query
// (not exactly one of client, user, scopes; a bad id, name or scope), 404 for an unknown client or
// user, 503 when the store cannot answer.
import type { FastifyInstance, FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { Compile } from 'typebox/compile'
import { accessAnswer, type AccessSelector } from '../access/reach.js'
import { GatewayError } from '../errors/gateway-error.js'
import { AccountError, checkClientId, normalizeUserName, parseScopes } from '../oauth/accounts.js'
import type { RouteSource } from '../pipeline/match.js'
import { StoreUnavailableError, type Store } from '../store/types.js'

export interface AdminAccessOptions {
  store: Store
  /** The running route map (the RouteWatcher). */
  routes: RouteSource
}

// one value each (a repeated parameter arrives as a list and is refused), nothing else
const AccessQuery = Compile(Type.Object({
  client: Type.Optional(Type.String()),
  user: Type.Optional(Type.String()),
  scopes: Type.Optional(Type.String())
}, { additionalProperties: false }))

function refuse (reply: FastifyReply, err: GatewayError): FastifyReply {
  return reply.code(err.status).headers(err.headers).send(err.body())
}

const badQuery = (description: string): GatewayError => new GatewayError('invalid_request', { description })

function selectorOf (query: unknown): AccessSelector | GatewayError {
  if (!AccessQuery.Check(query)) return badQuery('Use exactly one of client=ID, user=NAME or scopes=a+b, each once')
  const q = query
  const given = [q.client, q.user, q.scopes].filter((v) => v !== undefined).length
  if (given !== 1) return badQuery('Use exactly one of client=ID, user=NAME or scopes=a+b')
  try {
    if (q.client !== undefined) return { client: checkClientId(q.client) }
    if (q.user !== undefined) return { user: normalizeUserName(q.user) }
    return { scopes: parseScopes(q.scopes!) }
  } catch (err) {
    if (err instanceof AccountError) return badQuery(err.code === 'invalid_scope' ? 'Malformed scope' : 'Malformed client id or user name')
    throw err
  }
}

export async function adminAccessPlugin (app: FastifyInstance, opts: AdminAccessOptions): Promise<void> {
  app.get('/admin/access', async (request, reply) => {
    const selector = selectorOf(request.query)
    if (selector instanceof GatewayError) return refuse(reply, selector)
    const table = opts.routes.current()
    if ('scopes' in selector) return accessAnswer(table, selector, { scopes: selector.scopes, disabled: false })
    let record
    try {
      record = 'client' in selector ? await opts.store.getClient(selector.client) : await opts.store.getUser(selector.user)
    } catch (err) {
      if (err instanceof StoreUnavailableError) return refuse(reply, new GatewayError('store_unavailable', { headers: { 'retry-after': '1' }, cause: err }))
      throw err
    }
    if (record === null) {
      return refuse(reply, new GatewayError('route_not_found', { description: 'client' in selector ? 'No such client' : 'No such user' }))
    }
    return accessAnswer(table, selector, record)
  })
}
