// The store contract against MemoryStore, plus what only an injectable clock can show cheaply.
import t from 'tap'
import { MemoryStore } from '../../src/store/memory/index.js'
import { createStore } from '../../src/store/index.js'
import { storeContract } from './contract.js'
import { storeUpdateContract } from './contract-updates.js'
import { storeAuthContract } from './contract-auth.js'
import { storeMobileContract } from './contract-mobile.js'

const makeMemory = async (): Promise<{ store: MemoryStore, cleanup: () => Promise<void> }> => {
  const store = new MemoryStore()
  return { store, cleanup: async () => { await store.close() } }
}
storeContract(t, makeMemory)
storeUpdateContract(t, makeMemory)
storeAuthContract(t, makeMemory)
storeMobileContract(t, makeMemory)

t.test('createStore without a Redis URL gives the memory store', async (t) => {
  const store = createStore({ timeoutMs: 1000 })
  t.teardown(async () => { await store.close() })
  t.equal(store.kind, 'memory')
})

t.test('injected clock: TTLs and windows follow it', async (t) => {
  let now = 1_700_000_000_000
  const store = new MemoryStore({ now: () => now })
  await store.putRefreshToken('h', { sid: 's', sub: 'u', clientId: 'c', scope: [], issuedAt: 1_700_000_000, expiresAt: 1_700_000_060 })
  await store.revokeToken('j', 1_700_000_060)
  t.equal((await store.incrementCounter('k', 1000)).ttlMs, 1000)
  now += 999
  t.same(await store.incrementCounter('k', 1000), { count: 2, ttlMs: 1 }, 'same window 1 ms before its end')
  now += 1
  t.same(await store.incrementCounter('k', 1000), { count: 1, ttlMs: 1000 }, 'new window at its end')
  now = 1_700_000_059_999
  t.not(await store.getRefreshToken('h'), null, 'alive 1 ms before expiresAt')
  t.equal((await store.checkRevocation({ jti: 'j', sub: 'u', clientId: 'c' })).tokenRevoked, true)
  now = 1_700_000_060_000
  t.equal(await store.getRefreshToken('h'), null, 'gone at expiresAt')
  t.equal((await store.checkRevocation({ jti: 'j', sub: 'u', clientId: 'c' })).tokenRevoked, false)
})
