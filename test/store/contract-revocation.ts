// The revocation part of the store contract (run by storeContract, test/store/contract.ts): the
// replicated feed (REVOCATION_MODE=replicated), the snapshot a view loads, and the store epoch
// (SECURITY.md E01).
import type { Test } from 'tap'
import type { RevocationEvent, Store } from '../../src/store/types.js'
import { client, nowS, refresh, sleep, until, user } from './contract-fixtures.js'

/**
 * `feedRepeats`: the store publishes again the event of a revocation that finds its change already
 * in place (a Redis Cluster, where the publish is a call of its own: the client's retry after a 503
 * must announce it, src/store/redis/writes.ts). Such a repeat changes nothing in a view.
 */
export function storeRevocationContract (t: Test, fresh: (t: Test) => Promise<Store>, opts: { feedRepeats?: boolean }): void {
  t.test('revocation feed (REVOCATION_MODE=replicated): up() once subscribed, then one event per change', async (t) => {
    const store = await fresh(t)
    const events: RevocationEvent[] = []
    let ups = 0
    const feed = store.subscribeRevocations({ event: (e) => { events.push(e) }, up: () => { ups++ }, down: () => {} })
    t.teardown(() => feed.close())
    await until(() => ups === 1)
    const exp = nowS() + 600
    await store.revokeToken('j1', exp)
    await store.revokeToken('j1', exp - 60) // shortens nothing: no change, no event
    await store.revokeSession('s1', exp)
    await store.revokeUserBefore('carol', 1000)
    await store.revokeUserBefore('carol', 999) // a cut-off never moves back: no event
    await store.putUser(user('dave', { disabled: true }))
    await store.putClient(client('app', { disabled: false }))
    await until(() => events.length >= (opts.feedRepeats === true ? 7 : 5))
    await sleep(50)
    if (opts.feedRepeats === true) {
      t.same([events[1], events[4]], [{ kind: 'token', id: 'j1', untilMs: (exp - 60) * 1000 }, { kind: 'user-cutoff', id: 'carol', before: 999 }], 'a write that found its change in place: published again, as asked (no later marker or cut-off than the stored one)')
      events.splice(4, 1)
      events.splice(1, 1)
    }
    t.same(events, [
      { kind: 'token', id: 'j1', untilMs: exp * 1000 },
      { kind: 'session', id: 's1', untilMs: exp * 1000 },
      { kind: 'user-cutoff', id: 'carol', before: 1000 },
      { kind: 'user-disabled', id: 'dave', disabled: true },
      { kind: 'client-disabled', id: 'app', disabled: false }
    ], opts.feedRepeats === true ? 'in write order' : 'in write order, nothing for writes that changed nothing')
  })

  t.test('revocationSnapshot: the whole current revocation state', async (t) => {
    const store = await fresh(t)
    const exp = nowS() + 600
    await store.revokeToken('j:1', exp)
    await store.revokeSession('s1', exp)
    await store.revokeUserBefore('erin', 1234)
    await store.putUser(user('frank', { disabled: true }))
    await store.putUser(user('grace', { disabled: false }))
    await store.putClient(client('off-app', { disabled: true }))
    const snap = await store.revocationSnapshot()
    const byKind = (k: string): RevocationEvent[] => snap.filter((e) => e.kind === k)
    t.same(byKind('token').map((e) => e.id), ['j:1'], 'ids may hold colons')
    const until = (byKind('token')[0] as { untilMs: number }).untilMs
    t.ok(Math.abs(until - exp * 1000) <= 1000, 'a marker carries when it ends')
    t.same(byKind('session').map((e) => e.id), ['s1'])
    t.same(byKind('user-cutoff'), [{ kind: 'user-cutoff', id: 'erin', before: 1234 }])
    t.same(byKind('user-disabled'), [{ kind: 'user-disabled', id: 'frank', disabled: true }], 'only disabled users')
    t.same(byKind('client-disabled'), [{ kind: 'client-disabled', id: 'off-app', disabled: true }])
  })

  t.test('SECURITY.md E01: the store epoch is confirmed, stable, and a refresh record keeps the one it was issued under', async (t) => {
    const store = await fresh(t)
    const epoch = await store.epoch.verify()
    t.type(epoch, 'string')
    t.ok(epoch!.length >= 16, 'a random id')
    t.equal(store.epoch.current, epoch)
    t.equal(await store.epoch.verify(), epoch, 'the same on every check while the data lives')
    t.match(store.epoch.status(), { current: epoch, previous: null, changedAt: null, unsafe: null })
    await store.putRefreshToken('rt-epoch', refresh({ epoch: 'e-1' }))
    t.match(await store.getRefreshToken('rt-epoch'), { epoch: 'e-1' })
  })
}
