// Why the gateway does not register @fastify/redis (README "Libraries and what each does"): with the
// gateway's client policy (no offline queue, reconnect forever: SECURITY.md F01–F05) and Redis absent,
// (1) registering the plugin with that client blocks app.ready() until Redis answers, so the app
// fails with the plugin timeout instead of listening (F01 wants /healthz 200, /readyz 503), and
// (2) its onClose (an unbounded QUIT) rejects and leaves the client reconnecting.
//   npx tsx bench/redis-plugin-fit.ts
import Fastify from 'fastify'
import { Redis } from 'ioredis'

const PLUGIN = '@fastify/redis'
let plugin: unknown
try {
  plugin = ((await import(PLUGIN)) as { default: unknown }).default
} catch {
  console.log(`${PLUGIN} is not installed: npm install (a devDependency, for bench/targets/naive-stack.ts)`)
  process.exit(0)
}
const client = new Redis('redis://127.0.0.1:1', { // port 1: nothing listens
  enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 500, commandTimeout: 500, retryStrategy: (n) => Math.min(n * 100, 1000)
})
client.on('error', () => {})
const app = Fastify({ pluginTimeout: 10_000 }) // Fastify's default
app.register(plugin as never, { client, closeClient: true, namespace: 'store' })
const t0 = performance.now()
try {
  await app.ready()
  console.log(`ready after ${(performance.now() - t0).toFixed(0)} ms`)
} catch (err) {
  console.log(`app.ready() failed after ${(performance.now() - t0).toFixed(0)} ms: ${(err as Error).message}`)
}
try {
  await app.close()
  console.log(`close ok, client status ${client.status}`)
} catch (err) {
  console.log(`app.close() rejected: ${(err as Error).message}; client status afterwards: ${client.status}`)
}
client.disconnect()
