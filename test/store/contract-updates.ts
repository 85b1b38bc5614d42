// The store contract, continued: atomic read-modify-write of users and clients (issue 9 item 14) and
// refresh rotation in one step (issue 9 item 13, RFC 9700 §4.14.2). Run by memory.test.ts and
// redis.test.ts next to contract.ts; concurrency here is real: against Redis every update's read
// and write are separate round trips, so concurrent updates really interleave.
import type { Test } from 'tap'
import type { ClientRecord, RefreshTokenRecord, RevocationEvent, Store, UserRecord } from '../../src/store/types.js'
import type { MakeStore } from './contract.js'

const nowS = (): number => Math.floor(Date.now() / 1000)
const user = (name: string, over: Partial<UserRecord> = {}): UserRecord =>
  ({ name, passwordHash: '$2b$10$hash/of+' + name, scopes: [], disabled: false, createdAt: 1_700_000_000, ...over })
const client = (id: string, over: Partial<ClientRecord> = {}): ClientRecord =>
  ({ id, secretHash: null, grants: ['refresh_token'], scopes: [], disabled: false, createdAt: 1_700_000_000, ...over })
const refresh = (over: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord =>
  ({ sid: 'sid-1', sub: 'alice', clientId: 'app', scope: ['read'], issuedAt: nowS(), expiresAt: nowS() + 3600, ...over })

interface Kind<R extends UserRecord | ClientRecord> {
  name: string
  make(id: string): R
  put(s: Store, r: R): Promise<boolean>
  get(s: Store, id: string): Promise<R | null>
  update: Store['updateUser'] | Store['updateClient']
  cutoff(s: Store, id: string): Promise<number | null>
  disabled(s: Store, id: string): Promise<boolean>
}

const kinds = [
  {
    name: 'users',
    make: (id: string) => user(id),
    put: async (s: Store, r: UserRecord) => await s.putUser(r),
    get: async (s: Store, id: string) => await s.getUser(id),
    update: (s: Store) => s.updateUser.bind(s),
    cutoff: async (s: Store, id: string) => (await s.checkRevocation({ jti: 'j', sub: id, clientId: 'nobody' })).userRevokedBefore,
    disabled: async (s: Store, id: string) => (await s.checkRevocation({ jti: 'j', sub: id, clientId: 'nobody' })).userDisabled
  },
  {
    name: 'clients',
    make: (id: string) => client(id),
    put: async (s: Store, r: ClientRecord) => await s.putClient(r),
    get: async (s: Store, id: string) => await s.getClient(id),
    update: (s: Store) => s.updateClient.bind(s),
    cutoff: async (s: Store, id: string) => (await s.checkRevocation({ jti: 'j', sub: 'nobody', clientId: id })).clientRevokedBefore,
    disabled: async (s: Store, id: string) => (await s.checkRevocation({ jti: 'j', sub: 'nobody', clientId: id })).clientDisabled
  }
] as const

type AnyRecord = UserRecord & ClientRecord
type Update = (id: string, change: (r: AnyRecord) => AnyRecord, opts?: { revokeBefore?: number }) => Promise<AnyRecord | null>

export function storeUpdateContract (t: Test, makeStore: MakeStore): void {
  const fresh = async (tt: Test): Promise<Store> => {
    const { store, cleanup } = await makeStore()
    tt.teardown(cleanup)
    return store
  }

  for (const kind of kinds) {
    const update = (s: Store): Update => kind.update(s) as unknown as Update
    const put = async (s: Store, r: AnyRecord): Promise<boolean> => await (kind.put as (s: Store, r: AnyRecord) => Promise<boolean>)(s, r)

    t.test(`${kind.name}: 20 concurrent updates of one record, each adding a scope: none is lost`, async (t) => {
      const store = await fresh(t)
      await put(store, kind.make('bob') as AnyRecord)
      await Promise.all(Array.from({ length: 20 }, async (_, i) =>
        await update(store)('bob', (r) => ({ ...r, scopes: [...r.scopes, `s${i}`] }))))
      const scopes = (await kind.get(store, 'bob'))?.scopes ?? []
      t.same([...scopes].sort(), Array.from({ length: 20 }, (_, i) => `s${i}`).sort(), 'every concurrent change landed')
    })

    t.test(`${kind.name}: update of an unknown id, a refused change, the cut-off`, async (t) => {
      const store = await fresh(t)
      t.equal(await update(store)('ghost', (r) => r), null, 'unknown: null')
      t.equal(await kind.get(store, 'ghost'), null, 'and nothing created')
      await put(store, kind.make('bob') as AnyRecord)
      await t.rejects(update(store)('bob', () => { throw new Error('refused') }), /refused/, 'a change that throws rejects')
      t.same(await kind.get(store, 'bob'), kind.make('bob'), 'and writes nothing')
      await t.rejects(update(store)('bob', (r) => ({ ...r, name: 'eve', id: 'eve' })), TypeError, 'the id cannot change')

      t.equal(await kind.cutoff(store, 'bob'), null, 'no cut-off at first')
      const off = await update(store)('bob', (r) => ({ ...r, disabled: true }), { revokeBefore: 1_700_000_100 })
      t.equal(off?.disabled, true, 'resolves the record as written')
      t.equal(await kind.cutoff(store, 'bob'), 1_700_000_100, 'the cut-off is written in the same step')
      await update(store)('bob', (r) => ({ ...r, disabled: false }), { revokeBefore: 1_700_000_050 })
      t.equal(await kind.cutoff(store, 'bob'), 1_700_000_100, 'it never moves back')
      t.equal(await kind.disabled(store, 'bob'), false, 'the flag follows the record')
    })
  }

  t.test('updates are published on the revocation feed (REVOCATION_MODE=replicated)', async (t) => {
    const store = await fresh(t)
    await store.putUser(user('dave'))
    await store.putClient(client('app'))
    const events: RevocationEvent[] = []
    let up = false
    const feed = store.subscribeRevocations({ event: (e) => { events.push(e) }, up: () => { up = true }, down: () => {} })
    t.teardown(() => feed.close())
    while (!up) await new Promise((resolve) => setTimeout(resolve, 5))
    await store.updateUser('dave', (u) => ({ ...u, disabled: true }), { revokeBefore: 1000 })
    await store.updateClient('app', (c) => ({ ...c, disabled: true }), { revokeBefore: 2000 })
    while (events.length < 4) await new Promise((resolve) => setTimeout(resolve, 5))
    t.same(events, [
      { kind: 'user-disabled', id: 'dave', disabled: true },
      { kind: 'user-cutoff', id: 'dave', before: 1000 },
      { kind: 'client-disabled', id: 'app', disabled: true },
      { kind: 'client-cutoff', id: 'app', before: 2000 }
    ])
    const snap = await store.revocationSnapshot()
    t.same(snap.filter((e) => e.kind === 'client-cutoff'), [{ kind: 'client-cutoff', id: 'app', before: 2000 }], 'and are in the snapshot')
  })

  t.test('RFC 9700 §4.14.2: rotateRefreshToken consumes and stores the successor in one step', async (t) => {
    const store = await fresh(t)
    const record = refresh()
    const next = refresh({ issuedAt: record.issuedAt + 1 })
    t.same(await store.rotateRefreshToken('old', 'new', next), { status: 'unknown' }, 'unknown token')
    t.equal(await store.getRefreshToken('new'), null, 'stores no successor')

    await store.putRefreshToken('old', record)
    t.same(await store.rotateRefreshToken('old', 'new', next), { status: 'active', record }, 'first rotation: active')
    t.same(await store.getRefreshToken('new'), next, 'the successor is stored')
    t.same(await store.consumeRefreshToken('new'), { status: 'active', record: next }, 'unused')
    t.same(await store.rotateRefreshToken('old', 'new2', next), { status: 'reused', record }, 'second rotation: a replay')
    t.equal(await store.getRefreshToken('new2'), null, 'a replay gets no successor')
  })

  t.test('RFC 9700 §4.14.2: 10 concurrent rotations of one token: one active, one successor', async (t) => {
    const store = await fresh(t)
    await store.putRefreshToken('race', refresh())
    const results = await Promise.all(Array.from({ length: 10 }, async (_, i) => await store.rotateRefreshToken('race', `next${i}`, refresh())))
    t.equal(results.filter((r) => r.status === 'active').length, 1, 'one winner')
    t.equal(results.filter((r) => r.status === 'reused').length, 9, 'every other one sees a replay')
    const stored = await Promise.all(Array.from({ length: 10 }, async (_, i) => await store.getRefreshToken(`next${i}`)))
    t.equal(stored.filter((r) => r !== null).length, 1, 'exactly one successor exists')
    t.not(stored[results.findIndex((r) => r.status === 'active')], null, 'the winner\'s')
  })
}
