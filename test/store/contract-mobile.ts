// The store contract for issue 12 (mobile clients), run by memory.test.ts and redis.test.ts:
// rotation with the REFRESH_GRACE window and the DPoP key binding (RFC 9449 §5), sessions (one per
// refresh family), one-time claims (DPoP jti, RFC 9449 §11.1) and shared secrets (DPoP nonces).
// Not a test file itself.
import type { Test } from 'tap'
import type { RefreshTokenRecord, RotationOptions, SessionRecord, Store } from '../../src/store/types.js'
import type { MakeStore } from './contract.js'
import { nowS, sleep } from './contract-fixtures.js'


function family (over: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return { sid: 'sid-1', sub: 'alice', clientId: 'app', scope: ['read'], issuedAt: nowS(), expiresAt: nowS() + 3600, ...over }
}

function session (over: Partial<SessionRecord> = {}): SessionRecord {
  return { sid: 's1', sub: 'alice', clientId: 'app', createdAt: 1000, lastUsedAt: 1000, ip: '192.0.2.1', userAgent: 'App/1.0', expiresAt: nowS() + 3600, ...over }
}

const grace = (over: Partial<RotationOptions> = {}): RotationOptions => ({ presenterJkt: '', graceMs: 10_000, sealedSuccessor: 'sealed-next', ...over })

export function storeMobileContract (t: Test, makeStore: MakeStore): void {
  const fresh = async (tt: Test): Promise<Store> => {
    const { store, cleanup } = await makeStore()
    tt.teardown(cleanup)
    return store
  }

  t.test('REFRESH_GRACE: a retry by the same key while the successor is unused gets the sealed successor; anything else is a replay', async (t) => {
    const store = await fresh(t)
    const record = family()
    await store.putRefreshToken('old', record)
    t.same(await store.rotateRefreshToken('old', 'next', record, grace()), { status: 'active', record })
    t.same(await store.rotateRefreshToken('old', 'other', record, grace()), { status: 'grace', record, sealedSuccessor: 'sealed-next' }, 'a retry: the same successor')
    t.equal(await store.getRefreshToken('other'), null, 'a retry stores no second successor')
    t.same(await store.rotateRefreshToken('old', 'other', record, grace({ presenterJkt: 'another-key' })), { status: 'reused', record }, 'another key: a replay')
    t.same(await store.rotateRefreshToken('next', 'gen2', record, grace()), { status: 'active', record }, 'the successor rotates')
    t.same(await store.rotateRefreshToken('old', 'other', record, grace()), { status: 'reused', record }, 'T38: two generations old is a replay')
  })

  t.test('REFRESH_GRACE: without a window (graceMs 0) and after it ends, a retry is a replay', async (t) => {
    const store = await fresh(t)
    const record = family()
    await store.putRefreshToken('a', record)
    await store.rotateRefreshToken('a', 'a2', record, grace({ graceMs: 0 }))
    t.same(await store.rotateRefreshToken('a', 'a3', record, grace()), { status: 'reused', record })
    await store.putRefreshToken('b', record)
    await store.rotateRefreshToken('b', 'b2', record, grace({ graceMs: 150 }))
    await sleep(300)
    t.same(await store.rotateRefreshToken('b', 'b3', record, grace()), { status: 'reused', record }, 'the window ended')
  })

  t.test('REFRESH_GRACE: 10 concurrent rotations of one token: one rotates, nine get its successor', async (t) => {
    const store = await fresh(t)
    await store.putRefreshToken('race', family())
    const results = await Promise.all(Array.from({ length: 10 }, async (_, i) => await store.rotateRefreshToken('race', `n${i}`, family(), grace({ sealedSuccessor: `sealed-n${i}` }))))
    const active = results.flatMap((r, i) => r.status === 'active' ? [i] : [])
    t.equal(active.length, 1)
    t.same(new Set(results.filter((r) => r.status === 'grace').map((r) => (r as { sealedSuccessor: string }).sealedSuccessor)), new Set([`sealed-n${active[0]!}`]))
  })

  t.test('RFC 9449 §5: a bound family rotates only for its key; a wrong key writes nothing', async (t) => {
    const store = await fresh(t)
    const record = family({ jkt: 'key-1' })
    await store.putRefreshToken('bound', record)
    t.same(await store.rotateRefreshToken('bound', 'x', record, grace({ presenterJkt: 'key-2' })), { status: 'wrong_key', record })
    t.same(await store.rotateRefreshToken('bound', 'x', record), { status: 'wrong_key', record }, 'no proof at all')
    t.equal(await store.getRefreshToken('x'), null)
    t.same(await store.rotateRefreshToken('bound', 'y', record, grace({ presenterJkt: 'key-1' })), { status: 'active', record }, 'the token was not burnt')
    t.same(await store.rotateRefreshToken('bound', 'z', record, grace({ presenterJkt: 'key-2' })), { status: 'reused', record }, 'used: another key is a replay, not wrong_key')
  })

  t.test('sessions: recorded again keeps createdAt, updates last use, IP and agent; listed per user, oldest first', async (t) => {
    const store = await fresh(t)
    t.same(await store.listSessions('alice'), [])
    const expiresAt = nowS() + 3600 // one value for every record and expectation (no second boundary between them)
    await store.recordSession(session({ sid: 's2', createdAt: 2000, lastUsedAt: 2000, expiresAt }))
    await store.recordSession(session({ expiresAt }))
    await store.recordSession(session({ sid: 'b1', sub: 'bob', expiresAt }))
    await store.recordSession(session({ createdAt: 5000, lastUsedAt: 5000, ip: '2001:db8::1', userAgent: 'App/2.0', expiresAt }))
    t.same(await store.listSessions('alice'), [
      session({ lastUsedAt: 5000, ip: '2001:db8::1', userAgent: 'App/2.0', expiresAt }),
      session({ sid: 's2', createdAt: 2000, lastUsedAt: 2000, expiresAt })
    ])
    t.same((await store.listSessions('bob')).map((s) => s.sid), ['b1'])
    await store.recordSession(session({ sid: 'gone', expiresAt: nowS() - 1 }))
    // at least a whole second ahead (nowS() + 1 can be a millisecond away), then waited out exactly
    const shortEnds = nowS() + 2
    await store.recordSession(session({ sid: 'short', expiresAt: shortEnds }))
    t.same((await store.listSessions('alice')).map((s) => s.sid).sort(), ['s1', 's2', 'short'], 'an ended family is never recorded')
    await sleep(Math.max(0, shortEnds * 1000 - Date.now()) + 100)
    t.same((await store.listSessions('alice')).map((s) => s.sid), ['s1', 's2'], 'a session lives exactly as long as its family')
  })

  t.test('RFC 9449 §11.1: claimOnce is SET NX with expiry, atomic under concurrency', async (t) => {
    const store = await fresh(t)
    const results = await Promise.all(Array.from({ length: 10 }, async () => await store.claimOnce('jti-1', 5000)))
    t.equal(results.filter(Boolean).length, 1, 'exactly one claim wins')
    t.equal(await store.claimOnce('jti-2', 5000), true, 'ids are independent')
    t.equal(await store.claimOnce('short', 150), true)
    await sleep(300)
    t.equal(await store.claimOnce('short', 150), true, 'claimable again once the claim expired')
  })

  t.test('sharedSecret: created once, the same for every caller', async (t) => {
    const store = await fresh(t)
    const all = await Promise.all(Array.from({ length: 5 }, async () => await store.sharedSecret('dpop-nonce')))
    t.equal(new Set(all).size, 1)
    t.match(all[0], /^[A-Za-z0-9_-]{43}$/, '256 random bits')
    t.not(await store.sharedSecret('other'), all[0], 'one secret per name')
  })
}
