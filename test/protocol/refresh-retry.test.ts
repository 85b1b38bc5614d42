// RFC 9700 §4.14.2 (issue 9 item 13): a store failure during a refresh must not end the session.
// The store is lost from the k-th store call of one refresh on (the connection drops before that
// command is sent), for every k until the refresh no longer touches the store after it; the client
// gets a 503 and retries with the same refresh token once the store is back. That retry must be
// served, not taken for a replay (which would revoke the family). Against the memory store and a
// real redis-server, through the real token endpoint; the loss is injected by test/helpers/store-hooks.ts.
import t from 'tap'
import { buildOAuthApp, onEveryStore, passwordTokens, refresh, seedFixture } from '../helpers/oauth.js'
import { hookedStore } from '../helpers/store-hooks.js'

const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'The token store is unavailable; retry later' }

void onEveryStore(t, async (t, makeStore) => {
  t.test('RFC 9700 §4.14.2: the store lost at any point of a refresh: the retry after the 503 is served, the session lives', async (t) => {
    const inner = await makeStore(t)
    const { store, hooks } = hookedStore(inner)
    const { app } = await buildOAuthApp(t, { store, env: { TOKEN_RATE_LIMIT: '1000' } })
    await seedFixture(inner)
    let lostAll = false
    for (let k = 1; !lostAll; k++) {
      const login = await passwordTokens(app)
      hooks.failFrom(k)
      const first = await refresh(app, login.refresh_token!)
      hooks.heal()
      const lost = hooks.calls.slice(k - 1, k)[0]
      if (lost === undefined) {
        // The refresh made fewer than k store calls: every loss point has been tried.
        t.equal(first.statusCode, 200, `k=${k}: no call lost, the refresh succeeds`)
        lostAll = true
        break
      }
      const where = `store lost before call ${k} (${lost})`
      if (first.statusCode === 200) {
        // Only calls that may fall back (the per-IP counter) were lost: nothing to retry.
        t.ok(hooks.calls.slice(k - 1).every((c) => c === 'incrementCounter'), `${where}: served without the store`)
        continue
      }
      t.equal(first.statusCode, 503, `${where}: 503`)
      t.same(first.json(), UNAVAILABLE, `${where}: RFC 6749 §5.2 body`)
      t.ok(first.headers['retry-after'] !== undefined, `${where}: Retry-After`)
      const retry = await refresh(app, login.refresh_token!)
      t.equal(retry.statusCode, 200, `${where}: the retry with the same refresh token is served, not a replay`)
      const next = await refresh(app, retry.json().refresh_token)
      t.equal(next.statusCode, 200, `${where}: and the session lives on`)
    }
    t.ok(lostAll)
  })
})
