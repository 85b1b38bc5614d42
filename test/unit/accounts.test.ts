// Users and clients over the memory store: naming, RFC 6749 §3.3 scopes, grants, secrets shown once,
// disable/enable, and the user revoked-before cut-off.
import t from 'tap'
import {
  AccountError, addClient, addUser, disableClient, disableUser, enableClient, enableUser, getUser, listClients,
  listUsers, normalizeUserName, parseGrants, parseScopes, revokeUser, rotateClientSecret,
  setPassword, setUserScopes, userCutoff
} from '../../src/oauth/accounts.js'
import { SecretTooLongError, verifySecret } from '../../src/oauth/passwords.js'
import { createStore, type Store } from '../../src/store/index.js'

const COST = 4
const NOW_MS = 1_700_000_000_500 // fixed clock: half a second into epoch second 1_700_000_000
const clock = { now: () => NOW_MS }

function newStore (): Store {
  return createStore({ timeoutMs: 1000 })
}

const revocationOf = async (store: Store, sub: string, clientId = 'none') =>
  await store.checkRevocation({ jti: 'j', sub, clientId })

t.test('T26: usernames are case-insensitive, stored lowercase, one identity', async (t) => {
  const store = newStore()
  const view = await addUser(store, { name: 'Alice', password: 'pw-1', scopes: 'read write', cost: COST, ...clock })
  t.same(view, { name: 'alice', scopes: ['read', 'write'], disabled: false, createdAt: 1_700_000_000 })
  t.notOk('passwordHash' in view, 'the view carries no hash')
  await t.rejects(addUser(store, { name: 'alice', password: 'pw-2', scopes: '', cost: COST }), { code: 'exists' })
  await t.rejects(addUser(store, { name: 'ALICE', password: 'pw-2', scopes: '', cost: COST }), { code: 'exists' })
  t.equal((await getUser(store, 'aLiCe')).name, 'alice')
  const stored = await store.getUser('alice')
  t.equal(await verifySecret('pw-1', stored?.passwordHash ?? null), true, 'the first password stands')
  t.equal(await store.getUser('Alice'), null, 'nothing is stored under the mixed-case name')
})

t.test('usernames: 1-64 of [A-Za-z0-9._@-]', async (t) => {
  t.equal(normalizeUserName('Ops.Bot_1@example-corp'), 'ops.bot_1@example-corp')
  t.equal(normalizeUserName('x'.repeat(64)), 'x'.repeat(64))
  for (const bad of ['', 'x'.repeat(65), 'a b', 'a:b', 'ä', 'a/b', 'a\nb', 'a%20']) {
    t.throws(() => normalizeUserName(bad), { name: 'AccountError', code: 'invalid_name' }, JSON.stringify(bad))
  }
})

t.test('RFC 6749 §3.3: scope tokens are printable ASCII except space, " and \\', async (t) => {
  t.same(parseScopes('read  write read'), ['read', 'write'], 'split on spaces, duplicates dropped, order kept')
  t.same(parseScopes(''), [], 'no scope at all')
  t.same(parseScopes('! # [ ] ~ a:b https://x/y'), ['!', '#', '[', ']', '~', 'a:b', 'https://x/y'], 'boundary characters')
  for (const bad of ['a"b', 'a\\b', 'é', 'a\tb', '\x7f', 'a\x00']) {
    t.throws(() => parseScopes(bad), { code: 'invalid_scope' }, JSON.stringify(bad))
  }
  t.throws(() => parseScopes(['ok', 'not ok']), { code: 'invalid_scope' }, 'a listed token with a space')
})

t.test('grants are a non-empty subset of password refresh_token client_credentials authorization_code', async (t) => {
  t.same(parseGrants('password refresh_token password'), ['password', 'refresh_token'])
  t.same(parseGrants('authorization_code'), ['authorization_code'])
  t.throws(() => parseGrants(''), { code: 'invalid_grant' })
  t.throws(() => parseGrants('token'), { code: 'invalid_grant' })
  t.throws(() => parseGrants('implicit password'), { code: 'invalid_grant' })
})

t.test('T27: a password over 72 bytes is refused when set, and nothing is written', async (t) => {
  const store = newStore()
  const long = `${'a'.repeat(72)}X`
  await t.rejects(addUser(store, { name: 'bob', password: long, scopes: '', cost: COST }), SecretTooLongError)
  t.equal(await store.getUser('bob'), null)
  await addUser(store, { name: 'bob', password: 'short', scopes: '', cost: COST })
  await t.rejects(setPassword(store, 'bob', long, COST), SecretTooLongError)
  t.equal(await verifySecret('short', (await store.getUser('bob'))?.passwordHash ?? null), true, 'old password kept')
})

t.test('setPassword and setUserScopes replace, unknown users are not_found', async (t) => {
  const store = newStore()
  await addUser(store, { name: 'carol', password: 'old', scopes: 'read', cost: COST })
  await setPassword(store, 'Carol', 'new', COST)
  const hash = (await store.getUser('carol'))?.passwordHash ?? null
  t.equal(await verifySecret('new', hash), true)
  t.equal(await verifySecret('old', hash), false)
  t.same((await setUserScopes(store, 'carol', 'admin')).scopes, ['admin'])
  t.same((await store.getUser('carol'))?.scopes, ['admin'])
  await t.rejects(setPassword(store, 'nobody', 'x', COST), { name: 'AccountError', code: 'not_found', message: 'no user "nobody"' })
  await t.rejects(setUserScopes(store, 'nobody', 'a'), { code: 'not_found' })
  await t.rejects(setUserScopes(store, 'carol', 'a"b'), { code: 'invalid_scope' })
  await t.rejects(revokeUser(store, 'nobody'), { code: 'not_found' })
  await t.rejects(disableUser(store, 'nobody'), { code: 'not_found' })
})

t.test('revokeUser: tokens with iat before the next whole second are refused', async (t) => {
  const store = newStore()
  await addUser(store, { name: 'dave', password: 'pw', scopes: '', cost: COST })
  t.equal(userCutoff(NOW_MS), 1_700_000_001)
  t.equal(userCutoff(1_700_000_000_000), 1_700_000_001, 'on the exact second boundary too')
  const r = await revokeUser(store, 'DAVE', clock)
  t.same(r, { name: 'dave', revokedBefore: 1_700_000_001 })
  const { userRevokedBefore } = await revocationOf(store, 'dave')
  t.equal(userRevokedBefore, 1_700_000_001)
  const refused = (iat: number): boolean => userRevokedBefore !== null && iat < userRevokedBefore
  t.equal(refused(1_699_999_999), true, 'issued a second before: refused')
  t.equal(refused(1_700_000_000), true, 'issued in the same second as the revocation: refused')
  t.equal(refused(1_700_000_001), false, 'issued the next second: accepted')
})

t.test('disableUser refuses tokens at once; enableUser does not bring old sessions back', async (t) => {
  const store = newStore()
  await addUser(store, { name: 'erin', password: 'pw', scopes: '', cost: COST })
  t.equal((await revocationOf(store, 'erin')).userDisabled, false)
  t.equal((await disableUser(store, 'Erin', clock)).disabled, true)
  const off = await revocationOf(store, 'erin')
  t.equal(off.userDisabled, true)
  t.equal(off.userRevokedBefore, 1_700_000_001, 'the disable also sets the cut-off')
  t.equal((await enableUser(store, 'erin')).disabled, false)
  const on = await revocationOf(store, 'erin')
  t.equal(on.userDisabled, false)
  t.equal(on.userRevokedBefore, 1_700_000_001, 'tokens from before the disable stay refused')
  t.equal(await verifySecret('pw', (await store.getUser('erin'))?.passwordHash ?? null), true, 'password kept')
})

t.test('listUsers never returns a hash', async (t) => {
  const store = newStore()
  await addUser(store, { name: 'zed', password: 'pw', scopes: 'b', cost: COST, ...clock })
  await addUser(store, { name: 'amy', password: 'pw', scopes: 'a', cost: COST, ...clock })
  const all = await listUsers(store)
  t.same(all.map((u) => u.name), ['amy', 'zed'])
  t.notMatch(JSON.stringify(all), /\$2[aby]\$/)
  t.same(Object.keys(all[0] ?? {}).sort(), ['createdAt', 'disabled', 'name', 'scopes'])
})

t.test('a confidential client gets a 256-bit base64url secret, shown once, stored hashed', async (t) => {
  const store = newStore()
  const created = await addClient(store, { id: 'web', grants: 'password refresh_token', scopes: 'read', public: false, cost: COST, ...clock })
  t.equal(created.client_id, 'web')
  t.match(created.client_secret, /^[A-Za-z0-9_-]{43}$/)
  const record = await store.getClient('web')
  t.equal(record?.createdAt, 1_700_000_000)
  t.not(record?.secretHash, created.client_secret, 'the secret itself is not stored')
  t.equal(await verifySecret(created.client_secret ?? '', record?.secretHash ?? null), true)
  const other = await addClient(store, { id: 'web2', grants: 'password', scopes: '', public: false, cost: COST })
  t.not(other.client_secret, created.client_secret, 'secrets are random')
  await t.rejects(addClient(store, { id: 'web', grants: 'password', scopes: '', public: true, cost: COST }), { code: 'exists' })
  t.equal(await verifySecret(created.client_secret ?? '', (await store.getClient('web'))?.secretHash ?? null), true, 'the duplicate changed nothing')
})

t.test('a public client has no secret and cannot use client_credentials (RFC 6749 §4.4)', async (t) => {
  const store = newStore()
  t.same(await addClient(store, { id: 'spa', grants: 'password refresh_token', scopes: 'read', public: true, cost: COST }),
    { client_id: 'spa', client_secret: null })
  t.equal((await store.getClient('spa'))?.secretHash, null)
  await t.rejects(addClient(store, { id: 'cli', grants: 'client_credentials', scopes: '', public: true, cost: COST }),
    { code: 'invalid_client_type' })
  t.equal(await store.getClient('cli'), null)
  await t.rejects(rotateClientSecret(store, 'spa', COST), { code: 'invalid_client_type' })
})

t.test('client ids are exact: 1-64 of [A-Za-z0-9._-], case-sensitive', async (t) => {
  const store = newStore()
  for (const bad of ['', 'a:b', 'a b', 'x'.repeat(65), 'a%3A', 'ä']) {
    await t.rejects(addClient(store, { id: bad, grants: 'password', scopes: '', public: true, cost: COST }), { code: 'invalid_name' }, JSON.stringify(bad))
  }
  await addClient(store, { id: 'Web', grants: 'password', scopes: '', public: true, cost: COST })
  await t.rejects(disableClient(store, 'web'), { code: 'not_found' }, 'web is not Web')
  await t.rejects(addClient(store, { id: 'x', grants: 'password token', scopes: '', public: true, cost: COST }), { code: 'invalid_grant' })
})

t.test('rotateClientSecret: the old secret stops working at once', async (t) => {
  const store = newStore()
  const first = await addClient(store, { id: 'svc', grants: 'client_credentials', scopes: 'read', public: false, cost: COST })
  const second = await rotateClientSecret(store, 'svc', COST)
  t.equal(second.client_id, 'svc')
  t.not(second.client_secret, first.client_secret)
  const hash = (await store.getClient('svc'))?.secretHash ?? null
  t.equal(await verifySecret(second.client_secret, hash), true)
  t.equal(await verifySecret(first.client_secret ?? '', hash), false)
  await t.rejects(rotateClientSecret(store, 'nope', COST), { code: 'not_found', message: 'no client "nope"' })
})

t.test('disableClient / enableClient flip the flag checkRevocation reads; listClients shows no hash', async (t) => {
  const store = newStore()
  await addClient(store, { id: 'svc', grants: 'client_credentials', scopes: 'read', public: false, cost: COST })
  t.equal((await disableClient(store, 'svc')).disabled, true)
  t.equal((await revocationOf(store, 'u', 'svc')).clientDisabled, true)
  t.equal((await enableClient(store, 'svc')).disabled, false)
  t.equal((await revocationOf(store, 'u', 'svc')).clientDisabled, false)
  const all = await listClients(store)
  t.same(all, [{ id: 'svc', public: false, grants: ['client_credentials'], scopes: ['read'], disabled: false, introspect: false, dpop: 'optional', createdAt: all[0]?.createdAt, redirectUris: [], consent: false }])
  t.notMatch(JSON.stringify(all), /\$2[aby]\$/)
  await t.rejects(enableClient(store, 'nope'), { code: 'not_found' })
})

t.test('AccountError is one line with a code', async (t) => {
  const err = new AccountError('not_found', 'no user "x"')
  t.equal(err.name, 'AccountError')
  t.equal(err.code, 'not_found')
  t.notMatch(err.message, /\n/)
})
