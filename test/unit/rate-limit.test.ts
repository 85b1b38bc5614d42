// The rate-limit stage and the one IP key every per-IP counter shares.
import t from 'tap'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import type { CompiledRoute, RateLimitPolicy } from '../../src/config/route-types.js'
import { GatewayError } from '../../src/errors/gateway-error.js'
import type { Identity, PipelineContext } from '../../src/pipeline/context.js'
import { rateLimitKey, rateLimitStage } from '../../src/pipeline/rate-limit.js'
import { MemoryStore } from '../../src/store/memory/index.js'
import { ipKey, UNKNOWN_IP_KEY } from '../../src/net/ip-key.js'
import { LoginThrottle } from '../../src/oauth/login-throttle.js'
import { StoreUnavailableError, type Store } from '../../src/store/types.js'

// The rate-limit stage on hand-built pipeline contexts: key derivation per `by` dimension, the
// RateLimit-* headers, and the 429 (RFC 6585 §4). End to end: test/integration/rate-limit.test.ts.

function route (id: string, rateLimit: RateLimitPolicy | null): CompiledRoute {
  return Object.freeze({
    id, path: '/x/*', methods: ['GET'], auth: 'optional', scopes: [], rateLimit, forwardToken: true,
    upstream: { name: 'up', origin: 'http://127.0.0.1:1', basePath: '', timeoutMs: 1000 }
  }) as CompiledRoute
}

const alice: Identity = {
  subject: 'alice', subjectType: 'user', clientId: 'mobile', scopes: [], tokenId: 'j1', sessionId: 's1', issuedAt: 0, expiresAt: 0
}

function context (opts: { route: CompiledRoute, identity?: Identity | null, ip?: string, xff?: string }):
PipelineContext & { sent: Record<string, string> } {
  const sent: Record<string, string> = {}
  const request = {
    ip: opts.ip ?? '203.0.113.7',
    log: { info () {}, warn () {} },
    headers: opts.xff === undefined ? {} : { 'x-forwarded-for': opts.xff },
    routeOptions: { config: {} },
    pipeline: null as unknown
  }
  const reply = { header (k: string, v: string) { sent[k] = v; return this } }
  const ctx = {
    request: request as unknown as FastifyRequest,
    reply: reply as unknown as FastifyReply,
    path: '/x/1', query: '', route: opts.route, params: {}, identity: opts.identity ?? null, stage: 'rate-limit', sent
  }
  request.pipeline = ctx // as the gateway route sets it
  return ctx
}

t.test('the key is route id + the `by` dimension, one namespace per dimension', async (t) => {
  const by = (b: RateLimitPolicy['by']): RateLimitPolicy => ({ limit: 1, windowMs: 1000, by: b, mode: 'batched' })
  const r = route('GET /x/*', null)
  const cases: Array<[string, PipelineContext, RateLimitPolicy, string]> = [
    ['by subject: the verified subject', context({ route: r, identity: alice }), by('subject'), 'rl:"GET /x/*":sub:alice'],
    ['by client: the verified client id', context({ route: r, identity: alice }), by('client'), 'rl:"GET /x/*":client:mobile'],
    ['by ip: the address, even with an identity', context({ route: r, identity: alice }), by('ip'), 'rl:"GET /x/*":ip:203.0.113.7'],
    ['anonymous on a subject route: the IP namespace, never a subject\'s budget', context({ route: r }), by('subject'), 'rl:"GET /x/*":ip:203.0.113.7'],
    ['anonymous on a client route: the IP namespace', context({ route: r }), by('client'), 'rl:"GET /x/*":ip:203.0.113.7'],
    ['H09/T30: X-Forwarded-For never picks the key (request.ip does)', context({ route: r, xff: '10.9.9.9' }), by('ip'), 'rl:"GET /x/*":ip:203.0.113.7'],
    ['an IPv4-mapped IPv6 address counts as the IPv4 address', context({ route: r, ip: '::ffff:203.0.113.7' }), by('ip'), 'rl:"GET /x/*":ip:203.0.113.7'],
    ['IPv6: one budget per /64 (as @fastify/rate-limit)', context({ route: r, ip: '2001:db8:1:2:aaaa::1' }), by('ip'), 'rl:"GET /x/*":ip:2001:db8:1:2::'],
    ['the route id is quoted, so ids holding `:` cannot collide', context({ route: route('GET /a/:id', null) }), by('ip'), 'rl:"GET /a/:id":ip:203.0.113.7']
  ]
  for (const [what, ctx, policy, key] of cases) t.equal(rateLimitKey(ctx, policy), key, what)
  t.not(rateLimitKey(context({ route: route('GET /a', null) }), by('ip')), rateLimitKey(context({ route: route('GET /b', null) }), by('ip')),
    'each route has its own budget')
})

t.test('a route without a policy is not counted and gets no headers', async (t) => {
  const store = new MemoryStore()
  const stage = await rateLimitStage(Fastify(), { store })
  const ctx = context({ route: route('GET /x/*', null) })
  t.equal(stage(ctx), undefined, 'nothing to await')
  t.same(ctx.sent, {})
})

for (const mode of ['batched', 'exact'] as const) t.test(`${mode}: draft RateLimit headers count down; past the limit a 429 with Retry-After (RFC 6585 §4)`, async (t) => {
  let now = 1_000_000
  const store = new MemoryStore({ now: () => now })
  const stage = await rateLimitStage(Fastify(), { store, now: () => now })
  const r = route('GET /x/*', { limit: 2, windowMs: 10_000, by: 'subject', mode })
  const seen: Array<Record<string, string>> = []
  for (let i = 0; i < 2; i++) {
    const ctx = context({ route: r, identity: alice })
    await stage(ctx)
    await new Promise(setImmediate) // batched: the push near the limit is answered before the clock moves
    seen.push(ctx.sent)
    now += 2500
  }
  t.same(seen, [
    { 'ratelimit-limit': '2', 'ratelimit-remaining': '1', 'ratelimit-reset': '10' },
    { 'ratelimit-limit': '2', 'ratelimit-remaining': '0', 'ratelimit-reset': '8' }
  ], 'Reset is whole seconds until the window resets, rounded up')
  const over = context({ route: r, identity: alice })
  const err = await stage(over)?.then(() => null, (e: unknown) => e)
  t.ok(err instanceof GatewayError, 'refused with a GatewayError')
  const ge = err as GatewayError
  t.equal(ge.status, 429)
  t.same(ge.body(), { error: 'rate_limited', error_description: 'Too many requests' })
  t.same(ge.headers, { 'ratelimit-limit': '2', 'ratelimit-remaining': '0', 'ratelimit-reset': '5', 'retry-after': '5' })
  t.same(over.sent, {}, 'the refusal carries its headers on the error (the error handler sends them)')
  const anonymous = context({ route: r })
  await stage(anonymous)
  t.equal(anonymous.sent['ratelimit-remaining'], '1', 'an anonymous caller has its own (IP) budget')
})

for (const mode of ['batched', 'exact'] as const) t.test(`${mode}: Retry-After is at least 1 second, even in the last millisecond of a window`, async (t) => {
  let now = 0
  const store = new MemoryStore({ now: () => now })
  const stage = await rateLimitStage(Fastify(), { store, now: () => now })
  const r = route('GET /x/*', { limit: 1, windowMs: 1000, by: 'ip', mode })
  await stage(context({ route: r }))
  now = 999
  const err = await stage(context({ route: r }))?.then(() => null, (e: unknown) => e) as GatewayError
  t.equal(err.headers['retry-after'], '1')
})

// One IP key for every per-IP counter (issue 9 items 6, 15, 16; SECURITY.md T30, H09): the
// edge's `by: ip` rate limit and the token endpoint's per-IP limit group an address the same way,
// a missing address never throws, and the login throttle's store-down fallback stays bounded.

t.test('ipKey: one key per client, never a TypeError', async (t) => {
  const rows: Array<[string | undefined, string, string]> = [
    // [address, key, what it proves]
    ['203.0.113.7', '203.0.113.7', 'IPv4 as is'],
    ['::ffff:203.0.113.7', '203.0.113.7', 'IPv4-mapped IPv6 is the IPv4 client'],
    ['2001:db8:1:2:aaaa::1', '2001:db8:1:2::', 'IPv6 by its /64'],
    ['2001:db8:1:2:bbbb:cccc:dddd:eeee', '2001:db8:1:2::', 'another address in the same /64: the same key'],
    ['2001:db8:1:3::1', '2001:db8:1:3::', 'the next /64 is another client'],
    [undefined, UNKNOWN_IP_KEY, 'no address (socket already gone): the fixed key, not a TypeError (issue 9 item 6)'],
    ['', UNKNOWN_IP_KEY, 'an empty address: the fixed key']
  ]
  for (const [address, key, why] of rows) t.equal(ipKey(address), key, why)
})

const LIMITS = { LOGIN_MAX_FAILURES: 3, LOGIN_FAILURE_WINDOW: 60, TOKEN_RATE_LIMIT: 3 }

async function refusal (p: Promise<void>): Promise<{ status: number, body: Record<string, string> } | null> {
  try {
    await p
    return null
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err
    return { status: err.status, body: err.body() }
  }
}

const RATE_LIMITED = { status: 429, body: { error: 'rate_limited', error_description: 'Too many requests' } }

t.test('issue 9 item 15: the token endpoint counts an IPv6 client by its /64, like the edge', async (t) => {
  const throttle = new LoginThrottle(new MemoryStore(), LIMITS, () => 0)
  for (let i = 1; i <= LIMITS.TOKEN_RATE_LIMIT; i++) {
    t.equal(await refusal(throttle.checkIp(`2001:db8:7:7::${i.toString(16)}`)), null, `request ${i} from a fresh address in the /64`)
  }
  t.same(await refusal(throttle.checkIp('2001:db8:7:7:ffff:ffff:ffff:ffff')), RATE_LIMITED, 'rotating inside the /64 does not escape the limit')
  t.equal(await refusal(throttle.checkIp('2001:db8:7:8::1')), null, 'the next /64 has its own budget')
  t.equal(await refusal(throttle.checkIp(undefined)), null, 'no address: counted under the fixed key, never a TypeError')
})

/** A store whose counters are down (StoreUnavailableError), the case the fallback exists for. */
function downStore (): Store {
  const store = new MemoryStore()
  const fail = async (): Promise<never> => { throw new StoreUnavailableError('down') }
  return new Proxy(store, {
    get (target, prop, receiver) {
      if (prop === 'incrementCounter' || prop === 'resetCounter') return fail
      return Reflect.get(target, prop, receiver) as unknown
    }
  })
}

t.test('issue 9 item 16: the login throttle\'s store-down fallback stays bounded and still limits', async (t) => {
  const bound = 50
  const throttle = new LoginThrottle(downStore(), LIMITS, () => 0, bound)
  let most = 0
  for (let i = 0; i < 1000; i++) {
    await throttle.checkIp(`198.51.${i >> 8}.${i & 255}`)
    await throttle.beginLogin(`user-${i}`)
    most = Math.max(most, throttle.localKeys)
  }
  t.equal(most, bound, `1000 distinct IPs and 1000 usernames never held more than ${bound} windows`)
  t.equal(throttle.localKeys, bound, 'the fallback is full, never larger')
  // still a limit while the store is down: the same caller is counted in the fallback
  for (let i = 1; i <= LIMITS.TOKEN_RATE_LIMIT; i++) t.equal(await refusal(throttle.checkIp('203.0.113.9')), null, `request ${i}`)
  t.same(await refusal(throttle.checkIp('203.0.113.9')), RATE_LIMITED, 'over the limit: 429, never unlimited')
})
