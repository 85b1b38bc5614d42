// The authorization-code and login-session contract (src/store/auth-types.ts), run by memory.test.ts
// and redis.test.ts. Not a test file itself.
import type { Test } from 'tap'
import type { AuthCodeRecord } from '../../src/store/types.js'
import type { MakeStore } from './contract.js'
import { nowS, sleep } from './contract-fixtures.js'


function code (over: Partial<AuthCodeRecord> = {}): AuthCodeRecord {
  return {
    clientId: 'app', redirectUri: 'com.example.app:/cb', codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    sub: 'alice', scope: ['read'], sid: 'sid-1', issuedAt: nowS(), expiresAt: nowS() + 60, ...over
  }
}

export function storeAuthContract (t: Test, makeStore: MakeStore): void {
  const fresh = async (tt: Test) => {
    const { store, cleanup } = await makeStore()
    tt.teardown(cleanup)
    return store
  }

  t.test('codes: put, get without consuming, then exactly one active consume (RFC 6749 §4.1.2 single use)', async (t) => {
    const store = await fresh(t)
    t.equal(await store.codes.get('h1'), null, 'unknown code reads as null')
    t.same(await store.codes.consume('h1', 60), { status: 'unknown' })
    const record = code()
    await store.codes.put('h1', record)
    t.same(await store.codes.get('h1'), record, 'get returns the record')
    t.same(await store.codes.get('h1'), record, 'and does not consume it')
    t.same(await store.codes.consume('h1', 60), { status: 'active', record })
    t.same(await store.codes.consume('h1', 60), { status: 'reused', record }, 'a second use is a replay, with the record (its sid)')
    t.same(await store.codes.get('h1'), record, 'a used code stays readable')
  })

  t.test('codes: concurrent consumes: exactly one is active', async (t) => {
    const store = await fresh(t)
    await store.codes.put('h2', code())
    const results = await Promise.all(Array.from({ length: 8 }, async () => await store.codes.consume('h2', 60)))
    t.equal(results.filter((r) => r.status === 'active').length, 1)
    t.equal(results.filter((r) => r.status === 'reused').length, 7)
  })

  t.test('codes: an unused code is gone at its expiry (one already expired is not stored); a used one is kept for keepSeconds, so a late replay is still a replay (SECURITY.md W01)', async (t) => {
    const store = await fresh(t)
    await store.codes.put('gone', code({ expiresAt: nowS() - 1 }))
    t.equal(await store.codes.get('gone'), null)
    const soon = Date.now() / 1000 + 0.3
    const used = code({ expiresAt: soon, sid: 'sid-used' })
    await store.codes.put('short', code({ expiresAt: soon }))
    await store.codes.put('used', used)
    t.not(await store.codes.get('short'), null)
    t.same(await store.codes.consume('used', 3600), { status: 'active', record: used })
    await sleep(450)
    t.equal(await store.codes.get('short'), null, 'gone after its expiry')
    t.same(await store.codes.consume('short', 3600), { status: 'unknown' })
    t.same(await store.codes.get('used'), used, 'the used code outlives its expiry')
    t.same(await store.codes.consume('used', 3600), { status: 'reused', record: used }, 'used again after it expired: a replay, with its sid')
  })

  t.test('login sessions: put, get, delete, expiry', async (t) => {
    const store = await fresh(t)
    t.equal(await store.loginSessions.get('s1'), null)
    const session = { sub: 'alice', authTime: nowS(), expiresAt: nowS() + 3600 }
    await store.loginSessions.put('s1', session)
    t.same(await store.loginSessions.get('s1'), session)
    await store.loginSessions.delete('s1')
    t.equal(await store.loginSessions.get('s1'), null, 'deleted')
    await store.loginSessions.put('s2', { ...session, expiresAt: Date.now() / 1000 + 0.3 })
    t.not(await store.loginSessions.get('s2'), null)
    await sleep(450)
    t.equal(await store.loginSessions.get('s2'), null, 'expired')
  })
}
