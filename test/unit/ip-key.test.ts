// One IP key for every per-IP counter (issue 9 items 6, 15, 16; SECURITY.md T30, H09): the
// edge's `by: ip` rate limit and the token endpoint's per-IP limit group an address the same way,
// a missing address never throws, and the login throttle's store-down fallback stays bounded.
import t from 'tap'
import { GatewayError } from '../../src/errors/gateway-error.js'
import { ipKey, UNKNOWN_IP_KEY } from '../../src/net/ip-key.js'
import { LoginThrottle } from '../../src/oauth/login-throttle.js'
import { MemoryStore } from '../../src/store/memory/index.js'
import { StoreUnavailableError, type Store } from '../../src/store/types.js'

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
