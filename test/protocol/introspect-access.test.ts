// RFC 7662 §2.1 introspection for resource servers (issue 9 item 22), and the client cut-off
// (issue 9 item 14): a client disabled and enabled again never gets its older tokens back, at
// introspection and at refresh. Against the memory store and a real redis-server.
import t from 'tap'
import { addClient, disableClient, enableClient } from '../../src/oauth/accounts.js'
import { basic, buildOAuthApp, FIXTURE, onEveryStore, passwordTokens, post, refresh, seedFixture } from '../helpers/oauth.js'

type App = Parameters<typeof post>[0]
const INACTIVE = { active: false }
const INVALID_GRANT = { error: 'invalid_grant', error_description: 'The grant is invalid, expired or revoked' }
const introspect = async (app: App, token: string, id: string, secret: string): Promise<unknown> =>
  (await post(app, '/oauth/introspect', { token }, { authorization: basic(id, secret) })).json()

void onEveryStore(t, async (t, makeStore) => {
  t.test('RFC 7662 §2.1: only a client given --introspect learns about other clients\' tokens (T64)', async (t) => {
    const store = await makeStore(t)
    const { app } = await buildOAuthApp(t, { store })
    await seedFixture(store)
    const rs = await addClient(store, { id: 'orders-api', grants: 'client_credentials', scopes: '', public: false, introspect: true, cost: 4 })
    const plain = await addClient(store, { id: 'billing', grants: 'client_credentials', scopes: '', public: false, cost: 4 })
    const tokens = await passwordTokens(app) // issued to `web`

    t.same(await introspect(app, tokens.access_token, 'billing', plain.client_secret!), INACTIVE, 'without the permission: exactly {"active":false}')
    t.match(await introspect(app, tokens.access_token, 'orders-api', rs.client_secret!),
      { active: true, client_id: 'web', sub: 'alice', scope: 'read write', token_type: 'Bearer' }, 'with it: the RFC 7662 §2.2 members')
    t.same(await introspect(app, tokens.refresh_token!, 'orders-api', rs.client_secret!), INACTIVE, 'refresh tokens stay inactive')
    await post(app, '/oauth/revoke', { token: tokens.access_token }, { authorization: basic('web', FIXTURE.webSecret) })
    t.same(await introspect(app, tokens.access_token, 'orders-api', rs.client_secret!), INACTIVE, 'a revoked token is inactive to it too')
    t.equal((await store.getClient('billing'))?.introspect, undefined, 'the permission is never implied')
  })

  t.test('RFC 7662 §2.1: a public client cannot be given --introspect', async (t) => {
    const store = await makeStore(t)
    await t.rejects(addClient(store, { id: 'spa2', grants: 'password', scopes: '', public: true, introspect: true, cost: 4 }), { code: 'invalid_client_type' })
    t.equal(await store.getClient('spa2'), null)
  })

  t.test('clients disable then enable: the client\'s older tokens stay dead at introspection and refresh; newer ones live', async (t) => {
    const store = await makeStore(t)
    let now = Date.now()
    const { app } = await buildOAuthApp(t, { store, now: () => now })
    await seedFixture(store)
    const rs = await addClient(store, { id: 'orders-api', grants: 'client_credentials', scopes: '', public: false, introspect: true, cost: 4 })
    const old = await passwordTokens(app)
    await disableClient(store, 'web', { now: () => now })
    await enableClient(store, 'web')
    t.same(await introspect(app, old.access_token, 'web', FIXTURE.webSecret), INACTIVE, 'inactive to its own client')
    t.same(await introspect(app, old.access_token, 'orders-api', rs.client_secret!), INACTIVE, 'and to a resource server')
    t.same((await refresh(app, old.refresh_token!)).json(), INVALID_GRANT, 'its refresh token is refused')

    now += 2000 // past the cut-off second
    const fresh = await passwordTokens(app)
    t.match(await introspect(app, fresh.access_token, 'web', FIXTURE.webSecret), { active: true }, 'a token issued after the enable is active')
    t.equal((await refresh(app, fresh.refresh_token!)).statusCode, 200, 'and refreshes')
  })
})
