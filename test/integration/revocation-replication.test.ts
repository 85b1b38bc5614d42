// Issue 6, REVOCATION_MODE=replicated (the default since issue 10): two real gateways on one private
// redis-server. A (strict) and B (replicated: a local view fed by Redis pub/sub). A revocation written
// through A's store is refused by B within a bounded time; when B loses the feed it checks per request
// (strict) until it has re-synced: with Redis dead or frozen that is a 503 (fail closed), never a token
// trusted. A feed that silently stalls is trusted for REVOCATION_MAX_LAG at most (injected clock).
import t from 'tap'
import { Redis } from 'ioredis'
import { GatewayError } from '../../src/errors/gateway-error.js'
import { checkRevocationStage } from '../../src/pipeline/check-revocation.js'
import type { PipelineContext } from '../../src/pipeline/context.js'
import { RevocationReplica } from '../../src/revocation/replica.js'
import { RedisStore } from '../../src/store/index.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { silentLogger, startTestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/redis-server.js'
import { startSlowProxy } from '../helpers/slow-proxy.js'
import { hookedStore } from '../helpers/store-hooks.js'
import { mint, userClaims } from '../helpers/tokens.js'

const redis = await startRedis()
t.teardown(() => redis.stop())
const echo = await startEchoUpstream()
t.teardown(() => echo.close())

const ROUTES = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /orders/*
    methods: [GET]
    upstream: echo
    scopes: [orders:read]
`
const PREFIX = 'repl:'
const storeA = new RedisStore({ url: redis.url, timeoutMs: 2000, prefix: PREFIX })
const storeB = new RedisStore({ url: redis.url, timeoutMs: 2000, prefix: PREFIX })
t.teardown(() => storeA.close())
t.teardown(() => storeB.close())
if (!await storeA.ready(5000) || !await storeB.ready(5000)) throw new Error('redis-server did not become ready')
const a = await startTestGateway(t, { routes: ROUTES, store: storeA, env: { REVOCATION_MODE: 'strict' } })
const b = await startTestGateway(t, { routes: ROUTES, store: storeB, keys: a.keys, env: { REVOCATION_MODE: 'replicated' } })
let raw = new Redis(redis.url)
t.teardown(() => raw.disconnect())

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const token = (over: Record<string, unknown> = {}): { tok: string, jti: string, exp: number } => {
  const c = userClaims(a.config, { scope: 'orders:read', ...over })
  return { tok: mint(a.keys, c), jti: c.jti, exp: c.exp }
}
async function status (gw: { url: string }, tok: string): Promise<number> {
  const res = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${tok}` } })
  await res.arrayBuffer()
  return res.status
}
async function waitFor (what: string, cond: () => Promise<boolean>, ms = 5000): Promise<number> {
  const start = performance.now()
  while (!await cond()) {
    if (performance.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(2)
  }
  return performance.now() - start
}
/** A revocation written straight into Redis, bypassing the feed: only a per-request read or a snapshot sees it. */
async function revokeSilently (jti: string): Promise<void> {
  await raw.set(`${PREFIX}revoked:jti:${jti}`, '1', 'PX', 600_000)
}

// B is live (answering from its view) once it accepts a token revoked behind the feed's back
// after its snapshot: each try writes a fresh one, so one written before the snapshot does not count
let probe = token()
async function bLive (what: string, ms = 5000): Promise<void> {
  await waitFor(what, async () => {
    probe = token()
    await revokeSilently(probe.jti)
    return await status(b, probe.tok) === 200
  }, ms)
}

t.test('B reaches the live view (a write that bypasses the feed is not seen per request)', async (t) => {
  await bLive('B live')
  t.equal(await status(a, probe.tok), 401, 'strict A reads Redis on every request and refuses it')
  t.equal(await status(b, probe.tok), 200, 'B answers from its local view')
})

t.test('a revocation through A is refused on B within a bounded time (pub/sub)', async (t) => {
  const delays: number[] = []
  for (let i = 0; i < 30; i++) {
    const { tok, jti, exp } = token()
    t.equal(await status(b, tok), 200)
    await storeA.revokeToken(jti, exp)
    delays.push(await waitFor('refused on B', async () => await status(b, tok) === 401))
  }
  delays.sort((x, y) => x - y)
  t.comment(`revoke-to-refusal on B (incl. one HTTP round trip per poll): p50 ${delays[15]!.toFixed(1)} ms, max ${delays.at(-1)!.toFixed(1)} ms`)
  // reaching B at all is the property here (without the feed, B's view never learns of it and the wait
  // above runs out); how fast is a speed target, measured by `npm run bench` (revocation extra), not here
  t.equal(delays.length, 30, 'every revocation reached B through the feed')
})

t.test('sessions, user cut-offs and disabled users reach B too', async (t) => {
  const s = token({ sid: 'sess-9' })
  const u = token({ sub: 'ivan' })
  const d = token({ sub: 'judy' })
  for (const x of [s, u, d]) t.equal(await status(b, x.tok), 200)
  await storeA.revokeSession('sess-9', s.exp)
  await storeA.revokeUserBefore('ivan', Math.floor(Date.now() / 1000) + 1)
  await storeA.putUser({ name: 'judy', passwordHash: 'x', scopes: [], disabled: true, createdAt: 1 })
  for (const x of [s, u, d]) await waitFor('refused on B', async () => await status(b, x.tok) === 401)
  await storeA.putUser({ name: 'judy', passwordHash: 'x', scopes: [], disabled: false, createdAt: 1 })
  await waitFor('judy enabled on B', async () => await status(b, d.tok) === 200)
  t.pass()
})

t.test('feed lost: B checks per request until it has re-synced from a snapshot', async (t) => {
  const hidden = token()
  await revokeSilently(hidden.jti)
  t.equal(await status(b, hidden.tok), 200, 'live: the silent write is not seen')
  await raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub') // drop B's subscriber connection
  await waitFor('B refuses the silently revoked token', async () => await status(b, hidden.tok) === 401, 3000)
  await sleep(300) // re-subscribed and re-synced by now: the snapshot carries the silent write
  t.equal(await status(b, hidden.tok), 401, 'still refused after the re-sync (SCAN snapshot)')
  t.equal(await status(b, probe.tok), 401, 'and the first silent write too')
})

t.test('REVOCATION_MAX_LAG: a silently stalled feed is not trusted past the bound; after a reconnect, not before its snapshot is in', async (t) => {
  const MAX_LAG_MS = 1000
  // the feed and the snapshot go through a proxy that can hold every byte (a silent network path);
  // a command timeout far beyond the test keeps the heartbeat's own give-up out of it: only the bound decides
  const proxy = await startSlowProxy(redis.port)
  t.teardown(() => proxy.close())
  const stalled = new RedisStore({ url: proxy.url(), timeoutMs: 60_000, prefix: PREFIX })
  t.teardown(() => stalled.close())
  if (!await stalled.ready(5000)) throw new Error('redis-server did not become ready through the proxy')
  const { store, hooks } = hookedStore(stalled)
  let now = Date.now()
  const replica = new RevocationReplica({ store, logger: silentLogger, maxEntries: 10_000, maxLagMs: MAX_LAG_MS, now: () => now }).start()
  t.teardown(() => replica.close())
  await waitFor('replica live', async () => replica.live)
  // the check-revocation stage over this replica, reading A's store once the view is not trusted
  const stage = checkRevocationStage({ store: storeA, realm: 'portcullis', replica })
  const check = async (jti: string): Promise<string> => {
    const identity = { subject: 'alice', subjectType: 'user', clientId: 'mobile', scopes: [], tokenId: jti, sessionId: undefined, issuedAt: Math.floor(Date.now() / 1000) - 1, expiresAt: 0, storeEpoch: storeA.epoch.current ?? undefined }
    try {
      await stage({ identity } as unknown as PipelineContext)
      return 'pass'
    } catch (err) {
      return err instanceof GatewayError ? `${err.status} ${err.code}` : String(err)
    }
  }
  const query = (jti: string) => ({ jti, sub: 'alice', clientId: 'mobile' })

  const x = token()
  proxy.freeze() // the feed's connection stays open and says nothing
  await storeA.revokeToken(x.jti, x.exp) // published, held by the proxy
  t.equal(await check(x.jti), 'pass', 'within the bound the stalled view still passes it: the documented window')
  now += MAX_LAG_MS + 1 // no heartbeat answered since: the view's last proof is older than the bound
  t.equal(replica.state(query(x.jti)), null, 'past the bound: the view is not trusted (state unknown)')
  t.equal(replica.live, false, 'and reported down (admin status, metrics)')
  t.equal(await check(x.jti), '401 revoked', 'the stage reads the store and refuses the token revoked meanwhile')

  proxy.thaw() // the held event comes first, then the heartbeat answer that proves the view current again
  await waitFor('view trusted again', async () => replica.live)
  t.equal(replica.state(query(x.jti))?.tokenRevoked, true, 'trusted again only with the held revocation applied')

  // a reconnect: the view is not used before the re-sync's snapshot is in
  const y = token()
  await revokeSilently(y.jti) // only a snapshot can carry it
  let duringSnapshot: unknown = 'not reached'
  hooks.onceAfter('revocationSnapshot', async () => { duringSnapshot = { live: replica.live, state: replica.state(query(y.jti)) } })
  await raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await waitFor('re-synced', async () => duringSnapshot !== 'not reached' && replica.live)
  t.same(duringSnapshot, { live: false, state: null }, 'snapshot read, not yet applied: still checking per request')
  t.equal(replica.state(query(y.jti))?.tokenRevoked, true, 'live again with the snapshot applied')
  await bLive('B live again after the kill')
})

t.test('Redis frozen (SIGSTOP): B stops trusting its view once the bound has passed: 503, never forwarded; thawed, it re-syncs', async (t) => {
  const hidden = token()
  await revokeSilently(hidden.jti)
  t.equal(await status(b, hidden.tok), 200, 'live: the silent write is not seen')
  redis.pause()
  try {
    // past REVOCATION_MAX_LAG (or once the heartbeat gives up) B reads per request, and the frozen store cannot answer
    await waitFor('B answers 503', async () => await status(b, hidden.tok) === 503, 15_000)
    t.equal(await status(b, hidden.tok), 503, 'fail closed while frozen: never a pass on a view that may be stale')
  } finally {
    redis.resume()
  }
  await waitFor('B refuses the silently revoked token', async () => await status(b, hidden.tok) === 401, 10_000)
  await bLive('B live again', 15_000)
  t.equal(await status(b, hidden.tok), 401, 'the re-sync snapshot carries the write made behind the feed')
})

t.test('Redis killed: B fails closed (503), never trusts its stale view; restarted: B re-syncs', async (t) => {
  const ok = token()
  t.equal(await status(b, ok.tok), 200)
  await redis.kill()
  await waitFor('B answers 503', async () => await status(b, ok.tok) === 503, 3000)
  t.equal(await status(b, ok.tok), 503, 'strict without a store: temporarily_unavailable')
  await redis.restart()
  raw.disconnect()
  raw = new Redis(redis.url)
  // the restarted server is empty (no persistence): a new store epoch, so the token issued before
  // is refused for good (SECURITY.md E02), and B's view must be the new, empty state
  await waitFor('B refuses the token of the lost epoch', async () => await status(b, ok.tok) === 401, 10_000)
  await waitFor('A and B agree on the new epoch', async () => storeA.epoch.current !== null && storeA.epoch.current === storeB.epoch.current, 5000)
  // B is live again once it accepts a token revoked behind the feed's back after its snapshot: each
  // try writes a fresh one (minted under the new epoch), as a silent write made before B's re-sync
  // snapshot is in the view and refused for good
  let late = token()
  await waitFor('B live again', async () => {
    late = token()
    await revokeSilently(late.jti)
    return await status(b, late.tok) === 200
  }, 15_000)
  await storeA.revokeToken(late.jti, late.exp) // already set silently: no change, no event
  const next = token()
  await storeA.revokeToken(next.jti, next.exp)
  await waitFor('a published revocation reaches B after the restart', async () => await status(b, next.tok) === 401)
  t.equal(await status(b, ok.tok), 401, 'the token of the lost epoch stays refused')
})
