// Target `fastify-bare`: Fastify + @fastify/http-proxy passthrough, no auth, no logging.
// The floor of any Fastify gateway on this machine.
// Env: PORT, UPSTREAM (http://127.0.0.1:N).
import Fastify from 'fastify'
import httpProxy from '@fastify/http-proxy'

const app = Fastify({ logger: false })
await app.register(httpProxy, { upstream: String(process.env.UPSTREAM), prefix: '/' })
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.stdout.write(`fastify-bare listening on ${process.env.PORT}\n`)
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
