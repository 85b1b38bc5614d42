// Issue 11 item 8: one gateway cut off from Redis while the others keep it. Three gateway processes on
// one standalone redis-server; instance 0 reaches it through a TCP proxy (test/helpers/slow-proxy.ts)
// that is then frozen: a partition, connections open and nothing passing. (Sentinel and Cluster hand
// out the nodes' own addresses, so a proxy in front of one instance only is a standalone set-up; the
// gateway's behaviour does not depend on the mode.) Under 200 requests per second: instance 0 fails
// closed (503, /readyz 503 so a balancer takes it out), the others serve every request; a token
// revoked through another instance during the cut is refused by instance 0 once it is back; nothing
// is forwarded without its revocation check (the replicated view, trusted for REVOCATION_MAX_LAG after its
// last proof, is such a check: the test allows exactly that window); instance 0 recovers without a restart.
import t from 'tap'
import { startRedis } from '../helpers/redis-server.js'
import { startSlowProxy } from '../helpers/slow-proxy.js'
import { checkAnswers, get, load, mustLogin, revoke, servesAgain, sleep, startFleet } from './harness.js'

/** REDIS_TIMEOUT given to the gateways (s): past it a command counts as failed. */
/** REVOCATION_MAX_LAG's default (s → ms): how long a stalled feed's view is still trusted. */
const MAX_LAG_MS = 1000
const REDIS_TIMEOUT_S = 3 // with 1 s, stalls of the loaded 2-core machine made the healthy instances answer 503 too

const redis = await startRedis({ persistent: true })
t.teardown(() => redis.stop())
const proxy = await startSlowProxy(redis.port)
t.teardown(() => proxy.close())
const fleet = await startFleet(t, { REDIS_URL: redis.url, REDIS_TIMEOUT: String(REDIS_TIMEOUT_S) }, {
  perGateway: (i): Record<string, string> => i === 0 ? { REDIS_URL: proxy.url() } : {}
})

const readyz = async (g: number): Promise<number> =>
  (await fetch(`${fleet.gateways[g]!.url}/readyz`, { signal: AbortSignal.timeout(10_000) })).status

t.test('one instance cut off from Redis: it fails closed, the others serve, a revocation made meanwhile holds', async (t) => {
  const good = [await mustLogin(fleet.gateways[1]!), await mustLogin(fleet.gateways[2]!)].map((x) => x.access_token)
  const victim = await mustLogin(fleet.gateways[2]!)
  t.equal((await get(fleet, 0, '/orders/victim-before', victim.access_token)).status, 200, 'instance 0 serves the victim\'s token before the cut')
  const upstreamBefore = fleet.echo.seen.length

  let revokedToken: string | null = null
  const traffic = load(fleet, good, () => revokedToken)
  await sleep(1000)
  proxy.freeze()
  const cutAt = Date.now()
  t.equal(await revoke(fleet.gateways[1]!, victim.refresh_token), 200, 'a revocation through instance 1 during the cut')
  revokedToken = victim.access_token
  await sleep(REDIS_TIMEOUT_S * 1000 + 1000)
  t.equal(await readyz(0), 503, 'instance 0 is not ready while cut off (a balancer health-checking /readyz takes it out)')
  t.same([await readyz(1), await readyz(2)], [200, 200], 'the others stay ready')
  await sleep(1000)
  proxy.thaw()
  const healedAt = Date.now()
  const back = await servesAgain(fleet, 0, good[0]!)
  await sleep(500)
  const samples = await traffic.stop()

  // replicated revocation (the default): instance 0's view was last proved current before the cut, so it
  // may answer from it until cutAt + REVOCATION_MAX_LAG (1 s), then every check reads the (cut-off) store
  checkAnswers(t, fleet, samples, { until: healedAt + REDIS_TIMEOUT_S * 1000 + 2000, what: 'cut-off', upstreamBefore, staleView: { gateway: 0, until: cutAt + MAX_LAG_MS } })
  const during = samples.filter((s) => s.start > cutAt + REDIS_TIMEOUT_S * 1000 && s.end < healedAt)
  t.ok(during.filter((s) => s.gateway === 0 && !s.revoked).length > 0 && during.filter((s) => s.gateway === 0 && !s.revoked).every((s) => s.status === 503),
    'instance 0 answered 503 to every protected request while cut off (past the command timeout)')
  const others = samples.filter((s) => s.gateway !== 0 && !s.revoked)
  t.ok(others.every((s) => s.status === 200), `instances 1 and 2 served every request throughout (${others.length})`)
  t.equal(fleet.gateways[0]!.child.exitCode, null, `instance 0 recovered without a restart (${back} ms after the partition healed)`)
  t.equal(await readyz(0), 200, 'instance 0 is ready again')
  for (let g = 0; g < 3; g++) {
    t.equal((await get(fleet, g, '/orders/victim-after', victim.access_token)).status, 401, `instance ${g} refuses the token revoked during the cut`)
  }
})
