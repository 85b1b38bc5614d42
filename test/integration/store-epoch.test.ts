// Issue 9 item 12, SECURITY.md E01-E03: Redis loses its data (FLUSHALL, a restart without
// persistence) and with it every revocation. Two real gateways on one private redis-server, A
// strict and B replicated: a revoked token must stay refused on both, every token of the lost
// epoch is refused (its state is unknown), /readyz says not ready, and each instance logs ONE
// error line, however many requests follow. Tokens, introspection and refresh of the new epoch work.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { hashRefreshToken, newRefreshToken } from '../../src/oauth/refresh-tokens.js'
import { RedisStore } from '../../src/store/index.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic, FIXTURE, seedFixture } from '../helpers/oauth.js'
import { startRedis } from '../helpers/redis-server.js'
import { mint, userClaims } from '../helpers/tokens.js'

const redis = await startRedis() // no persistence: a restart starts empty
t.teardown(() => redis.stop())
const echo = await startEchoUpstream()
t.teardown(() => echo.close())

const ROUTES = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /orders/*
    upstream: echo
`
/** Error lines of one store's logger (the epoch watch logs through it). */
function recorder (): { errors: Array<Record<string, unknown>>, info: () => void, warn: () => void, error: (o: object) => void } {
  const errors: Array<Record<string, unknown>> = []
  return { errors, info () {}, warn () {}, error (o: object) { errors.push(o as Record<string, unknown>) } }
}
const logA = recorder()
const logB = recorder()
// the epoch is re-checked every 50 ms here (1 s in production) so the test does not wait long
const storeA = new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'epoch:', logger: logA, epochCheckMs: 50 })
const storeB = new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'epoch:', logger: logB, epochCheckMs: 50 })
t.teardown(() => storeA.close())
t.teardown(() => storeB.close())
if (!await storeA.ready(5000) || !await storeB.ready(5000)) throw new Error('redis-server did not become ready')
const a = await startTestGateway(t, { routes: ROUTES, store: storeA, env: { REVOCATION_MODE: 'strict' } })
const b = await startTestGateway(t, { routes: ROUTES, store: storeB, keys: a.keys, env: { REVOCATION_MODE: 'replicated' } })
const raw = new Redis(redis.url)
raw.on('error', () => {}) // reconnects by itself across the restart
t.teardown(() => raw.disconnect())

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
async function waitFor (what: string, cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(10)
  }
}
const token = (): { tok: string, jti: string, exp: number } => {
  const c = userClaims(a.config, { sub: FIXTURE.user, client_id: 'web', scope: 'read' })
  return { tok: mint(a.keys, c), jti: c.jti, exp: c.exp }
}
async function get (gw: TestGateway, tok: string): Promise<{ status: number, body: unknown, challenge: string | null }> {
  const res = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${tok}` } })
  return { status: res.status, body: await res.json(), challenge: res.headers.get('www-authenticate') }
}
async function status (gw: TestGateway, tok: string): Promise<number> { return (await get(gw, tok)).status }
const epochErrors = (log: ReturnType<typeof recorder>): number => log.errors.filter((e) => e.reason === 'store_epoch_changed').length

/** A revoked token (refused by both) and a good one (served by both), under the current epoch. */
async function revokedAndGood (): Promise<{ revoked: string, good: string, epoch: string }> {
  await waitFor('A and B agree on one epoch', () => storeA.epoch.current !== null && storeA.epoch.current === storeB.epoch.current)
  const revoked = token()
  const good = token()
  await storeA.revokeToken(revoked.jti, revoked.exp)
  await waitFor('B has the revocation', async () => await status(b, revoked.tok) === 401)
  return { revoked: revoked.tok, good: good.tok, epoch: storeA.epoch.current! }
}

/** After the data loss: both instances on one new epoch, every old token refused as invalid_token. */
async function oldTokensRefused (t: Test, before: { revoked: string, good: string, epoch: string }, why: string): Promise<void> {
  await waitFor(`${why}: both instances see a new epoch`, () =>
    storeA.epoch.current !== null && storeA.epoch.current !== before.epoch && storeA.epoch.current === storeB.epoch.current)
  for (const [name, gw] of [['strict A', a], ['replicated B', b]] as const) {
    for (const [which, tok] of [['the revoked token', before.revoked], ['a token of the lost epoch', before.good]] as const) {
      const r = await get(gw, tok)
      t.equal(r.status, 401, `${why}: ${name} refuses ${which}`)
      t.same(r.body, { error: 'invalid_token', error_description: 'The access token was revoked' }, `${why}: ${name} body`)
      t.match(r.challenge, /error="invalid_token"/, `${why}: ${name} challenge`)
    }
  }
  for (let i = 0; i < 20; i++) await Promise.all([status(a, before.revoked), status(b, before.good)])
  for (const [name, gw] of [['A', a], ['B', b]] as const) {
    const ready = await fetch(`${gw.url}/readyz`)
    t.equal(ready.status, 503, `${why}: ${name} /readyz is not ready`)
    t.match(await ready.json(), { error: 'temporarily_unavailable', store_epoch: 'changed' }, `${why}: ${name} /readyz names the epoch change`)
  }
  const fresh = token()
  t.equal(await status(a, fresh.tok), 200, `${why}: a token of the new epoch is served by A`)
  await waitFor(`${why}: B serves a token of the new epoch`, async () => await status(b, fresh.tok) === 200)
}

t.test('FLUSHALL: a revoked token stays refused on strict and replicated instances; /readyz not ready; one error line each', async (t) => {
  const before = await revokedAndGood()
  t.equal(await status(a, before.good), 200)
  t.equal(await status(b, before.good), 200)
  await raw.flushall()
  await oldTokensRefused(t, before, 'FLUSHALL')
  t.equal(epochErrors(logA), 1, 'A logged the change once')
  t.equal(epochErrors(logB), 1, 'B logged the change once')
  t.notMatch(JSON.stringify([...logA.errors, ...logB.errors]), before.good.split('.')[1]!, 'no token in the log')
})

t.test('the epoch rule at introspection (RFC 7662 §2.2) and at the refresh grant (RFC 6749 §6)', async (t) => {
  const old = storeA.epoch.current!
  await seedFixture(storeA) // the data is gone: the operator provisions again
  const stale = token()
  await raw.set('epoch:epoch', 'an-epoch-from-another-data-set')
  await waitFor('A sees the epoch change', () => storeA.epoch.current !== old && storeA.epoch.current !== null)
  const fresh = token()
  const introspect = async (tok: string): Promise<unknown> => await (await fetch(`${a.url}/oauth/introspect`, {
    method: 'POST',
    headers: { authorization: basic('web', FIXTURE.webSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: tok })
  })).json()
  t.same(await introspect(stale.tok), { active: false }, 'a token of the old epoch is inactive')
  t.match(await introspect(fresh.tok), { active: true, jti: fresh.jti }, 'a token of the new epoch is active')

  // a refresh record written under the old epoch (by an instance that had not noticed yet)
  const rt = newRefreshToken()
  const now = Math.floor(Date.now() / 1000)
  await storeA.putRefreshToken(hashRefreshToken(rt), { sid: 'sid-stale', sub: FIXTURE.user, clientId: 'web', scope: ['read'], issuedAt: now, expiresAt: now + 600, epoch: old })
  const res = await fetch(`${a.url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic('web', FIXTURE.webSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt })
  })
  t.equal(res.status, 400, 'a refresh token of the old epoch is refused')
  t.match(await res.json(), { error: 'invalid_grant' })
})

t.test('Redis restarted without persistence: the same, through a reconnect', async (t) => {
  const before = await revokedAndGood()
  const [errorsA, errorsB] = [epochErrors(logA), epochErrors(logB)]
  await redis.restart()
  await oldTokensRefused(t, before, 'restart')
  t.equal(epochErrors(logA), errorsA + 1, 'A logged this change once')
  t.equal(epochErrors(logB), errorsB + 1, 'B logged this change once')
})
