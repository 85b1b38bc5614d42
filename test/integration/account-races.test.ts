// Concurrent operator commands never lose a change (issue 9 item 14): every read-modify-write of a
// user or client is one atomic store step. Against the memory store and a real redis-server.
// First, each pair is forced into the worst interleaving: command A is stopped right after its first
// store call, command B runs to the end, then A finishes; both changes must survive. Then the same
// pairs run with real concurrency on separate Redis connections.
import t from 'tap'
import {
  addClient, addUser, disableClient, disableUser, enableClient, rotateClientSecret, setPassword, setUserScopes
} from '../../src/oauth/accounts.js'
import { verifySecret } from '../../src/oauth/passwords.js'
import { RedisStore, type Store } from '../../src/store/index.js'
import { onEveryStore } from '../helpers/oauth.js'
import { startRedis } from '../helpers/redis-server.js'
import { hookedStore } from '../helpers/store-hooks.js'

const COST = 4

interface Race {
  what: string
  /** Creates the record; resolves what the checks need. */
  setup(s: Store): Promise<void>
  /** Interrupted after its first store call. */
  a(s: Store): Promise<unknown>
  /** Runs in full meanwhile. */
  b(s: Store): Promise<unknown>
  check(s: Store, aResult: unknown, bResult: unknown): Promise<Array<[boolean, string]>>
}

const secretOf = (r: unknown): string => (r as { client_secret: string }).client_secret
const clientOk = async (s: Store, secret: string): Promise<boolean> => await verifySecret(secret, (await s.getClient('svc'))?.secretHash ?? null)
const userOk = async (s: Store, password: string): Promise<boolean> => await verifySecret(password, (await s.getUser('alice'))?.passwordHash ?? null)
const addSvc = async (s: Store): Promise<void> => { await addClient(s, { id: 'svc', grants: 'client_credentials', scopes: 'read', public: false, cost: COST }) }
const addAlice = async (s: Store): Promise<void> => { await addUser(s, { name: 'alice', password: 'old password', scopes: 'read', cost: COST }) }

const races: Race[] = [
  {
    what: 'clients rotate-secret racing clients disable: the client stays disabled (fail closed) and the new secret is in place',
    setup: addSvc,
    a: async (s) => await rotateClientSecret(s, 'svc', COST),
    b: async (s) => await disableClient(s, 'svc'),
    check: async (s, a) => [[(await s.getClient('svc'))?.disabled === true, 'disabled'], [await clientOk(s, secretOf(a)), 'rotated secret works']]
  },
  {
    what: 'clients disable racing clients rotate-secret: disabled, and the rotated-out secret never comes back',
    setup: addSvc,
    a: async (s) => await disableClient(s, 'svc'),
    b: async (s) => await rotateClientSecret(s, 'svc', COST),
    check: async (s, _a, b) => [[(await s.getClient('svc'))?.disabled === true, 'disabled'], [await clientOk(s, secretOf(b)), 'rotated secret works']]
  },
  {
    what: 'clients enable racing clients rotate-secret: enabled with the new secret',
    setup: async (s) => { await addSvc(s); await disableClient(s, 'svc') },
    a: async (s) => await enableClient(s, 'svc'),
    b: async (s) => await rotateClientSecret(s, 'svc', COST),
    check: async (s, _a, b) => [[(await s.getClient('svc'))?.disabled === false, 'enabled'], [await clientOk(s, secretOf(b)), 'rotated secret works']]
  },
  {
    what: 'users passwd racing users disable: the user stays disabled and the new password is in place',
    setup: addAlice,
    a: async (s) => await setPassword(s, 'alice', 'new password', COST),
    b: async (s) => await disableUser(s, 'alice'),
    check: async (s) => [[(await s.getUser('alice'))?.disabled === true, 'disabled'], [await userOk(s, 'new password'), 'new password works']]
  },
  {
    what: 'users disable racing users passwd: disabled, and the old password never comes back',
    setup: addAlice,
    a: async (s) => await disableUser(s, 'alice'),
    b: async (s) => await setPassword(s, 'alice', 'new password', COST),
    check: async (s) => [[(await s.getUser('alice'))?.disabled === true, 'disabled'], [await userOk(s, 'new password'), 'new password works']]
  },
  {
    what: 'users set-scopes racing users disable: disabled with the new scopes',
    setup: addAlice,
    a: async (s) => await setUserScopes(s, 'alice', 'read write'),
    b: async (s) => await disableUser(s, 'alice'),
    check: async (s) => {
      const u = await s.getUser('alice')
      return [[u?.disabled === true, 'disabled'], [JSON.stringify(u?.scopes) === '["read","write"]', 'new scopes']]
    }
  }
]

void onEveryStore(t, async (t, makeStore) => {
  for (const race of races) {
    t.test(`worst interleaving: ${race.what}`, async (t) => {
      const inner = await makeStore(t)
      await race.setup(inner)
      const { store, hooks } = hookedStore(inner)
      let bResult: unknown
      hooks.onceAfter('*', async () => { bResult = await race.b(inner) })
      const aResult = await race.a(store)
      t.not(bResult, undefined, 'B ran inside A')
      for (const [ok, what] of await race.check(inner, aResult, bResult)) t.ok(ok, what)
    })
  }
})

t.test('real concurrency on a real redis-server: each pair at once on two connections, 5 rounds', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => { await redis.stop() })
  let round = 0
  for (const race of races) {
    for (let i = 0; i < 5; i++) {
      const prefix = `race${round++}:`
      const [one, two] = [new RedisStore({ url: redis.url, prefix }), new RedisStore({ url: redis.url, prefix })]
      t.teardown(async () => { await one.close(); await two.close() })
      if (!await one.ready(5000) || !await two.ready(5000)) throw new Error('redis-server did not become ready')
      await race.setup(one)
      const [aResult, bResult] = await Promise.all([race.a(one), race.b(two)])
      for (const [ok, what] of await race.check(one, aResult, bResult)) t.ok(ok, `${race.what}: ${what} (round ${i + 1})`)
    }
  }
})
