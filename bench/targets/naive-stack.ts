// Target `naive-stack`: what a team following the usual tutorials builds on Fastify:
//   @fastify/jwt verifying every request (ES256 public key, iss + aud + exp checked),
//   a Redis GET per request for revocation (a denylist keyed by jti),
//   @fastify/rate-limit counting in Redis (per subject),
//   a scope check, and @fastify/http-proxy adding an identity header.
// Env: PORT, UPSTREAM, REDIS_URL, PUBLIC_KEY_FILE (SPKI PEM), ISSUER, AUDIENCE, SCOPE, RATE_LIMIT.
import { readFileSync } from 'node:fs'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyRedis from '@fastify/redis'
import rateLimit from '@fastify/rate-limit'
import httpProxy from '@fastify/http-proxy'

interface TokenUser { sub: string, jti: string, scope?: string }
declare module '@fastify/jwt' {
  interface FastifyJWT { user: TokenUser }
}

const scope = process.env.SCOPE ?? 'orders:read'
const app = Fastify({ logger: false })

await app.register(fastifyRedis, { url: String(process.env.REDIS_URL), enableAutoPipelining: false })
await app.register(fastifyJwt, {
  secret: { public: readFileSync(String(process.env.PUBLIC_KEY_FILE), 'utf8'), private: 'unused' },
  verify: { algorithms: ['ES256'], allowedIss: String(process.env.ISSUER), allowedAud: String(process.env.AUDIENCE ?? 'portcullis') }
})

// authenticate + revocation + scope, on every request
app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
  try {
    await request.jwtVerify()
  } catch {
    return await reply.code(401).send({ error: 'invalid_token' })
  }
  const revoked = await app.redis.get(`naive:revoked:${request.user.jti}`)
  if (revoked !== null) return await reply.code(401).send({ error: 'invalid_token', error_description: 'revoked' })
  const scopes = (request.user.scope ?? '').split(' ')
  if (!scopes.includes(scope)) return await reply.code(403).send({ error: 'insufficient_scope' })
})

await app.register(rateLimit, {
  global: true,
  hook: 'preHandler', // after authentication, so the key can be the subject
  max: Number(process.env.RATE_LIMIT ?? 1_000_000_000),
  timeWindow: '1 minute',
  redis: app.redis,
  keyGenerator: (request) => request.user?.sub ?? request.ip
})

await app.register(httpProxy, {
  upstream: String(process.env.UPSTREAM),
  prefix: '/',
  replyOptions: {
    rewriteRequestHeaders: (request, headers) => ({ ...headers, 'x-auth-subject': (request as FastifyRequest).user.sub })
  }
})

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.stdout.write(`naive-stack listening on ${process.env.PORT}\n`)
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
