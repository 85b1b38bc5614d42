// The one contract every Store implementation passes (STYLE.md §9): run by
// memory.test.ts against MemoryStore and by redis.test.ts against a real redis-server.
// Not a test file itself. Real short TTLs are used only in the expiry tests. Atomic updates of
// users and clients and the refresh rotation: contract-updates.ts; the feed, snapshot and epoch:
// contract-revocation.ts.

import type { Test } from 'tap'
import {
  StoreUnavailableError,
  type ClientRecord,
  type KeyRecord,
  type Store,
  type UserRecord
} from '../../src/store/types.js'
import { client, nowS, refresh, sleep, user } from './contract-fixtures.js'
import { storeRevocationContract } from './contract-revocation.js'

export interface StoreFixture { store: Store; cleanup(): Promise<void> }
export type MakeStore = () => Promise<StoreFixture>

function key (kid: string, createdAt: number): KeyRecord {
  return { kid, alg: 'EdDSA', privateKeyPem: 'PRIVATE ' + kid, publicKeyPem: 'PUBLIC ' + kid, createdAt, retireAt: null }
}

/** Users and clients follow the same rules: one table row each. */
interface RecordKind<R> {
  name: string
  make(id: string, over?: { disabled?: boolean; scopes?: string[] }): R
  put(s: Store, r: R, opts?: { ifAbsent?: boolean }): Promise<boolean>
  get(s: Store, id: string): Promise<R | null>
  list(s: Store): Promise<R[]>
  disabledFlag(s: Store, id: string): Promise<boolean>
}

const recordKinds: Array<RecordKind<UserRecord> | RecordKind<ClientRecord>> = [
  {
    name: 'users',
    make: (id, over) => user(id, over),
    put: async (s, r, o) => await s.putUser(r, o),
    get: async (s, id) => await s.getUser(id),
    list: async (s) => await s.listUsers(),
    disabledFlag: async (s, id) => (await s.checkRevocation({ jti: 'j', sub: id, clientId: 'nobody' })).userDisabled
  } satisfies RecordKind<UserRecord>,
  {
    name: 'clients',
    make: (id, over) => client(id, over),
    put: async (s, r, o) => await s.putClient(r, o),
    get: async (s, id) => await s.getClient(id),
    list: async (s) => await s.listClients(),
    disabledFlag: async (s, id) => (await s.checkRevocation({ jti: 'j', sub: 'nobody', clientId: id })).clientDisabled
  } satisfies RecordKind<ClientRecord>
]

/**
 * `feedRepeats`: the store publishes again the event of a revocation that finds its change already
 * in place (a Redis Cluster, where the publish is a call of its own: the client's retry after a 503
 * must announce it, src/store/redis/writes.ts). Such a repeat changes nothing in a view.
 */
export function storeContract (t: Test, makeStore: MakeStore, opts: { feedRepeats?: boolean } = {}): void {
  /** A fresh store for one subtest, cleaned up when it ends. */
  const fresh = async (tt: Test): Promise<Store> => {
    const { store, cleanup } = await makeStore()
    tt.teardown(cleanup)
    return store
  }

  t.test('ping answers', async (t) => {
    const store = await fresh(t)
    await t.resolves(store.ping())
    t.ok(['memory', 'redis'].includes(store.kind))
  })

  for (const kind of recordKinds as Array<RecordKind<UserRecord | ClientRecord>>) {
    t.test(`${kind.name}: put, get, replace, ifAbsent, list`, async (t) => {
      const store = await fresh(t)
      t.equal(await kind.get(store, 'bob'), null, 'unknown id reads as null')
      t.same(await kind.list(store), [], 'empty list at first')

      const bob = kind.make('bob')
      t.equal(await kind.put(store, bob), true, 'put creates')
      t.same(await kind.get(store, 'bob'), bob, 'get returns what was put')

      const bob2 = kind.make('bob', { scopes: ['read', 'write'] })
      t.equal(await kind.put(store, bob2), true, 'put without ifAbsent replaces')
      t.same(await kind.get(store, 'bob'), bob2)

      t.equal(await kind.put(store, kind.make('bob', { scopes: ['admin'] }), { ifAbsent: true }), false, 'ifAbsent refuses an existing id')
      t.same(await kind.get(store, 'bob'), bob2, 'and writes nothing')
      t.equal(await kind.put(store, kind.make('amy'), { ifAbsent: true }), true, 'ifAbsent creates a new id')

      await kind.put(store, kind.make('carl', { disabled: true }))
      const listed = await kind.list(store)
      t.same(listed, [kind.make('amy'), bob2, kind.make('carl', { disabled: true })], 'list holds every record, sorted by id')
    })

    t.test(`${kind.name}: returned records are copies`, async (t) => {
      const store = await fresh(t)
      await kind.put(store, kind.make('bob'))
      const got = await kind.get(store, 'bob')
      got?.scopes.push('admin')
      t.same((await kind.get(store, 'bob'))?.scopes, ['read'], 'mutating a result does not change the store')
    })

    t.test(`${kind.name}: the disabled flag follows the record (seen by checkRevocation)`, async (t) => {
      const store = await fresh(t)
      t.equal(await kind.disabledFlag(store, 'bob'), false, 'unknown id is not disabled')
      await kind.put(store, kind.make('bob', { disabled: true }))
      t.equal(await kind.disabledFlag(store, 'bob'), true, 'disabled record raises the flag')
      await kind.put(store, kind.make('bob', { disabled: false }))
      t.equal(await kind.disabledFlag(store, 'bob'), false, 're-enabling lowers it')
      t.equal(await kind.put(store, kind.make('bob', { disabled: true }), { ifAbsent: true }), false)
      t.equal(await kind.disabledFlag(store, 'bob'), false, 'a refused ifAbsent put leaves the flag alone')
      await kind.put(store, kind.make('eve', { disabled: true }), { ifAbsent: true })
      t.equal(await kind.disabledFlag(store, 'eve'), true, 'ifAbsent create writes the flag too')
    })
  }

  t.test('refresh tokens: active, then reused, unknown (RFC 9700 §4.14.2)', async (t) => {
    const store = await fresh(t)
    const record = refresh()
    t.equal(await store.getRefreshToken('h1'), null, 'unknown hash reads as null')
    t.same(await store.consumeRefreshToken('h1'), { status: 'unknown' })

    await store.putRefreshToken('h1', record)
    t.same(await store.getRefreshToken('h1'), record, 'get reads without consuming')
    t.same(await store.consumeRefreshToken('h1'), { status: 'active', record }, 'first consume is active')
    t.same(await store.consumeRefreshToken('h1'), { status: 'reused', record }, 'second consume is a replay')
    t.same(await store.consumeRefreshToken('h1'), { status: 'reused', record }, 'and stays one')
    t.same(await store.getRefreshToken('h1'), record, 'a used token is still readable until expiry')
    t.same(await store.consumeRefreshToken('h2'), { status: 'unknown' }, 'other hashes are untouched')
  })

  t.test('refresh tokens: 10 concurrent consumes, exactly one active', async (t) => {
    const store = await fresh(t)
    await store.putRefreshToken('race', refresh())
    const results = await Promise.all(Array.from({ length: 10 }, async () => await store.consumeRefreshToken('race')))
    const statuses = results.map((r) => r.status)
    t.equal(statuses.filter((s) => s === 'active').length, 1, 'one winner')
    t.equal(statuses.filter((s) => s === 'reused').length, 9, 'every other consume sees a replay')
  })

  t.test('refresh tokens: already expired at put is never stored', async (t) => {
    const store = await fresh(t)
    await store.putRefreshToken('old', refresh({ expiresAt: nowS() - 1 }))
    t.same(await store.consumeRefreshToken('old'), { status: 'unknown' })
  })

  t.test('revocation: token, session and user cut-off are reflected by checkRevocation', async (t) => {
    const store = await fresh(t)
    const q = { jti: 'j1', sid: 's1', sub: 'alice', clientId: 'app' }
    t.same(await store.checkRevocation(q), {
      tokenRevoked: false, sessionRevoked: false, userRevokedBefore: null, userDisabled: false, clientDisabled: false, clientRevokedBefore: null
    }, 'nothing revoked at first')

    await store.revokeToken('j1', nowS() + 60)
    await store.revokeSession('s1', nowS() + 60)
    await store.revokeUserBefore('alice', 1_700_000_100)
    t.same(await store.checkRevocation(q), {
      tokenRevoked: true, sessionRevoked: true, userRevokedBefore: 1_700_000_100, userDisabled: false, clientDisabled: false, clientRevokedBefore: null
    }, 'RFC 7009 §2.1: revoked token, session and cut-off all visible')

    const other = await store.checkRevocation({ jti: 'j2', sid: 's2', sub: 'bob', clientId: 'app' })
    t.same([other.tokenRevoked, other.sessionRevoked, other.userRevokedBefore], [false, false, null], 'other ids unaffected')
    t.equal((await store.checkRevocation({ jti: 'j2', sub: 'alice', clientId: 'app' })).sessionRevoked, false, 'no sid: not session-revoked')

    await store.revokeUserBefore('alice', 1_700_000_050)
    t.equal((await store.checkRevocation(q)).userRevokedBefore, 1_700_000_100, 'the cut-off never moves backwards')
    await store.revokeUserBefore('alice', 1_700_000_200)
    t.equal((await store.checkRevocation(q)).userRevokedBefore, 1_700_000_200, 'a later cut-off replaces it')

    await store.revokeToken('j-old', nowS() - 1)
    t.equal((await store.checkRevocation({ jti: 'j-old', sub: 'x', clientId: 'y' })).tokenRevoked, false, 'an already-expired token needs no entry')
  })

  t.test('expiry: entries live exactly until what they guard expires', async (t) => {
    const store = await fresh(t)
    // Epoch-second deadlines: 1-2 s away (the next whole second + 1).
    const exp = nowS() + 2
    await store.putRefreshToken('short', refresh({ expiresAt: exp }))
    await store.putRefreshToken('short-used', refresh({ expiresAt: exp }))
    t.equal((await store.consumeRefreshToken('short-used')).status, 'active')
    await store.revokeToken('j-short', exp)
    await store.revokeSession('s-short', exp)
    await store.revokeSession('s-long', exp + 60)
    await store.revokeSession('s-long', exp) // must not shorten the longer revocation
    const before = await store.checkRevocation({ jti: 'j-short', sid: 's-short', sub: 'a', clientId: 'c' })
    t.same([before.tokenRevoked, before.sessionRevoked], [true, true], 'revoked before expiry')
    t.equal((await store.consumeRefreshToken('short-used')).status, 'reused', 'a used token is detected as reused until expiry')

    await sleep(exp * 1000 - Date.now() + 250)
    t.equal(await store.getRefreshToken('short'), null, 'refresh token gone after expiresAt')
    t.same(await store.consumeRefreshToken('short-used'), { status: 'unknown' }, 'used marker gone with it')
    const after = await store.checkRevocation({ jti: 'j-short', sid: 's-short', sub: 'a', clientId: 'c' })
    t.same([after.tokenRevoked, after.sessionRevoked], [false, false], 'revocation entries gone once the token expired')
    t.equal((await store.checkRevocation({ jti: 'x', sid: 's-long', sub: 'a', clientId: 'c' })).sessionRevoked, true,
      'a shorter second revocation did not shorten the first')
  })

  t.test('counters: fixed window, independent keys, reset', async (t) => {
    const store = await fresh(t)
    const first = await store.incrementCounter('login:alice', 60_000)
    t.equal(first.count, 1, 'first hit counts 1')
    t.ok(first.ttlMs > 59_000 && first.ttlMs <= 60_000, `the first hit starts the window (ttl ${first.ttlMs})`)
    await sleep(20)
    const second = await store.incrementCounter('login:alice', 60_000)
    t.equal(second.count, 2)
    t.ok(second.ttlMs < first.ttlMs, 'later hits do not extend a fixed window')
    t.equal((await store.incrementCounter('login:bob', 60_000)).count, 1, 'keys are independent')

    await store.resetCounter('login:alice')
    t.equal((await store.incrementCounter('login:alice', 60_000)).count, 1, 'reset starts over')
    await t.resolves(store.resetCounter('never-used'), 'resetting an unknown key is fine')
  })

  t.test('counters: 20 concurrent increments count 1..20', async (t) => {
    const store = await fresh(t)
    const results = await Promise.all(Array.from({ length: 20 }, async () => await store.incrementCounter('burst', 60_000)))
    t.same(results.map((r) => r.count).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1))
  })

  t.test('counters: addCounters adds each delta to its own fixed window, in one call', async (t) => {
    const store = await fresh(t)
    t.same(await store.addCounters([]), [], 'nothing to add: nothing asked')
    await store.incrementCounter('rl:a', 60_000)
    const [a, b] = await store.addCounters([{ key: 'rl:a', delta: 4, windowMs: 60_000 }, { key: 'rl:b', delta: 3, windowMs: 60_000 }])
    t.equal(a!.count, 5, 'added to the window incrementCounter started (the two share keys)')
    t.equal(b!.count, 3, 'a new key starts at its delta')
    t.ok(b!.ttlMs > 59_000 && b!.ttlMs <= 60_000, `the first delta starts the window (ttl ${b!.ttlMs})`)
    await sleep(20)
    const [again] = await store.addCounters([{ key: 'rl:b', delta: 2, windowMs: 60_000 }])
    t.equal(again!.count, 5)
    t.ok(again!.ttlMs < b!.ttlMs, 'later deltas do not extend a fixed window')
    const concurrent = await Promise.all(Array.from({ length: 10 }, async () => await store.addCounters([{ key: 'rl:c', delta: 2, windowMs: 60_000 }])))
    t.same(concurrent.map(([r]) => r!.count).sort((x, y) => x - y), Array.from({ length: 10 }, (_, i) => 2 * (i + 1)), 'atomic per key: 10 concurrent deltas of 2 count 2..20')
  })

  t.test('counters: addCounters starts a new window after the old one ends', async (t) => {
    const store = await fresh(t)
    await store.addCounters([{ key: 'bw', delta: 7, windowMs: 250 }])
    await sleep(300)
    const [next] = await store.addCounters([{ key: 'bw', delta: 2, windowMs: 250 }])
    t.equal(next!.count, 2, 'expired window: count restarts at the delta')
    t.ok(next!.ttlMs > 0 && next!.ttlMs <= 250, 'with a fresh window')
  })

  t.test('counters: a new window starts after the old one ends', async (t) => {
    const store = await fresh(t)
    await store.incrementCounter('w', 250)
    t.equal((await store.incrementCounter('w', 250)).count, 2)
    await sleep(300)
    const next = await store.incrementCounter('w', 250)
    t.equal(next.count, 1, 'expired window: count restarts')
    t.ok(next.ttlMs > 0 && next.ttlMs <= 250, 'with a fresh window')
  })

  t.test('keys: 5 concurrent addKey onlyIfEmpty, exactly one wins', async (t) => {
    const store = await fresh(t)
    t.same(await store.listKeys(), [])
    const added = await Promise.all([1, 2, 3, 4, 5].map(async (i) => await store.addKey(key(`k${i}`, 100), { onlyIfEmpty: true })))
    t.equal(added.filter(Boolean).length, 1, 'one instance creates the first key')
    const keys = await store.listKeys()
    t.equal(keys.length, 1, 'and only one key exists')
    t.equal(keys[0]?.kid, `k${added.indexOf(true) + 1}`, 'it is the winner\'s key')
  })

  t.test('keys: add, update, remove, list', async (t) => {
    const store = await fresh(t)
    t.equal(await store.addKey(key('b', 200)), true)
    t.equal(await store.addKey(key('a', 100)), true, 'without onlyIfEmpty a second key is added')
    t.equal(await store.addKey(key('c', 300), { onlyIfEmpty: true }), false, 'onlyIfEmpty refuses a non-empty set')
    t.equal(await store.addKey({ ...key('a', 999), publicKeyPem: 'OTHER' }), false, 'an existing kid is never overwritten by add')
    t.same(await store.listKeys(), [key('a', 100), key('b', 200)], 'listed oldest first')

    const retiring = { ...key('a', 100), retireAt: 1_800_000_000 }
    await store.updateKey(retiring)
    t.same(await store.listKeys(), [retiring, key('b', 200)], 'updateKey replaces the record')
    await store.updateKey(key('ghost', 50))
    t.same((await store.listKeys()).map((k) => k.kid), ['a', 'b'], 'updateKey does not create an unknown kid')

    await store.removeKey('a')
    t.same(await store.listKeys(), [key('b', 200)], 'removeKey deletes it')
    await t.resolves(store.removeKey('a'), 'removing twice is fine')
  })

  t.test('after close every call rejects with StoreUnavailableError', async (t) => {
    const store = await fresh(t)
    await store.close()
    await t.rejects(store.getUser('bob'), StoreUnavailableError)
    await t.rejects(store.checkRevocation({ jti: 'j', sub: 's', clientId: 'c' }), StoreUnavailableError)
    await t.rejects(store.ping(), StoreUnavailableError)
    await t.resolves(store.close(), 'close is idempotent')
  })

  storeRevocationContract(t, fresh, opts)
}
