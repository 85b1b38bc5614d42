// RFC 9449 (DPoP) over raw HTTP through one real listening gateway (token endpoint and edge) and a
// real echo upstream (issue 12 items 5 and 8): binding at the token endpoint (§5, §6.1), proofs at
// the edge (§4.3, §7), replay (§11.1), nonces (§8, §9), `--dpop required` clients, refresh binding.
import t from 'tap'
import { startEchoUpstream, type SeenRequest } from '../helpers/echo-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { captureLogs } from '../helpers/log-capture.js'
import { hookedStore } from '../helpers/store-hooks.js'
import { basic, decodeSegment, FIXTURE, seedClient, seedFixture } from '../helpers/oauth.js'
import { ath, dpopKey, proof, type DpopKey, type ProofOptions } from '../helpers/dpop.js'

const echo = await startEchoUpstream()
t.teardown(() => echo.close())
const ROUTES = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /api/*
    upstream: echo
    scopes: [read]
  - path: /maybe/*
    upstream: echo
    auth: optional
`
const logs = captureLogs()
const lastRefusal = (): Record<string, unknown> | undefined => logs.lines.findLast((l) => l.outcome === 'refused')
const gw = await startTestGateway(t, { routes: ROUTES, env: { TOKEN_RATE_LIMIT: '1000' }, logger: logs.logger })
await seedFixture(gw.store)
await seedClient(gw.store, 'strict-app', { grants: ['password', 'refresh_token'], scopes: ['read'] })
await gw.store.updateClient('strict-app', (c) => ({ ...c, dpop: 'required' }))

const TOKEN_URL = `${gw.url}/oauth/token`
const API_URL = `${gw.url}/api/orders/7`
const DPOP_CHALLENGE = (error: string, description: string): string =>
  `DPoP realm="portcullis", algs="ES256 ES384 ES512 EdDSA Ed25519 RS256 RS384 RS512 PS256 PS384 PS512", error="${error}", error_description="${description}"`
const BAD_PROOF = DPOP_CHALLENGE('invalid_dpop_proof', 'The DPoP proof is invalid')

interface Answer { status: number; body: Record<string, unknown>; headers: Headers; seen: SeenRequest | undefined }

async function send (url: string, init: { method?: string; headers?: Record<string, string>; form?: Record<string, string> }): Promise<Answer> {
  const before = echo.seen.length
  const res = await fetch(url, {
    method: init.method ?? (init.form === undefined ? 'GET' : 'POST'),
    headers: { ...(init.form !== undefined && { 'content-type': 'application/x-www-form-urlencoded' }), ...init.headers },
    ...(init.form !== undefined && { body: new URLSearchParams(init.form).toString() })
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown>, headers: res.headers, seen: echo.seen.length > before ? echo.seen.at(-1) : undefined }
}

const LOGIN = { grant_type: 'password', client_id: 'spa', username: FIXTURE.user, password: FIXTURE.password, scope: 'read' }

async function login (key: DpopKey, form: Record<string, string> = LOGIN): Promise<Record<string, unknown>> {
  const a = await send(TOKEN_URL, { form, headers: { dpop: await proof(key, { htm: 'POST', htu: TOKEN_URL }) } })
  if (a.status !== 200) throw new Error(`login failed: ${a.status} ${JSON.stringify(a.body)}`)
  return a.body
}

async function callApi (token: string, p: Partial<ProofOptions> & { key?: DpopKey, scheme?: string, url?: string, method?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `${p.scheme ?? 'DPoP'} ${token}` }
  if (p.key !== undefined) headers.dpop = await proof(p.key, { htm: p.method ?? 'GET', htu: p.url ?? API_URL, token, ...p })
  return await send(p.url ?? API_URL, { method: p.method ?? 'GET', headers })
}

const key = await dpopKey('ES256')
const bound = await login(key)
const token = bound.access_token as string

t.test('RFC 9449 §5: a token request with a valid proof gets token_type DPoP and cnf.jkt (RFC 7638)', async (t) => {
  t.equal(bound.token_type, 'DPoP')
  t.same(decodeSegment(token, 1).cnf, { jkt: key.jkt })
  const plain = await send(TOKEN_URL, { form: LOGIN })
  t.equal(plain.status, 200)
  t.equal(plain.body.token_type, 'Bearer', 'without a proof: a bearer token, no cnf')
  t.equal(decodeSegment(plain.body.access_token as string, 1).cnf, undefined)
  const meta = await send(`${gw.url}/.well-known/oauth-authorization-server`, {})
  t.same(meta.body.dpop_signing_alg_values_supported, ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'], 'RFC 9449 §5.1 metadata')
})

t.test('RFC 9449 §7.1: a bound token with a valid proof passes; the upstream sees x-auth-token-type DPoP', async (t) => {
  const a = await callApi(token, { key, headers: undefined } as never)
  t.equal(a.status, 200, JSON.stringify(a.body))
  t.equal(a.seen!.headers['x-auth-token-type'], 'DPoP')
  t.equal(a.seen!.headers['x-auth-subject'], 'alice')
  for (const alg of ['EdDSA', 'RS256', 'PS256']) {
    const k = await dpopKey(alg)
    const tok = (await login(k)).access_token as string
    t.equal((await callApi(tok, { key: k })).status, 200, `${alg} proofs`)
  }
  const plain = await send(TOKEN_URL, { form: LOGIN })
  const b = await send(API_URL, { headers: { authorization: `Bearer ${plain.body.access_token as string}`, 'x-auth-token-type': 'DPoP', 'X_Auth_Token_Type': 'DPoP' } })
  t.equal(b.status, 200)
  t.equal(b.seen!.headers['x-auth-token-type'], 'Bearer', 'a client-sent copy is stripped; a bearer token is typed Bearer')
  t.equal(b.seen!.rawHeaders.filter((h) => h.toLowerCase().replace(/[^a-z]/g, '') === 'xauthtokentype').length, 1)
})

t.test('RFC 9449 §4.3, §7.1: each broken proof at the edge is 401 invalid_dpop_proof, nothing forwarded', async (t) => {
  const other = await dpopKey('ES256')
  const rows: Array<{ proves: string; detail: string; headers: () => Promise<Record<string, string>> }> = [
    { proves: 'a bound token used without its proof is refused', detail: 'missing', headers: async () => ({}) },
    { proves: 'a wrong htu (another path) is refused', detail: 'wrong_htu', headers: async () => ({ dpop: await proof(key, { htu: `${gw.url}/api/orders/8`, token }) }) },
    { proves: 'a wrong htu (another origin) is refused', detail: 'wrong_htu', headers: async () => ({ dpop: await proof(key, { htu: 'https://evil.example/api/orders/7', token }) }) },
    { proves: 'a wrong htm is refused', detail: 'wrong_htm', headers: async () => ({ dpop: await proof(key, { htm: 'POST', htu: API_URL, token }) }) },
    { proves: 'a bad ath (another token) is refused', detail: 'wrong_ath', headers: async () => ({ dpop: await proof(key, { htu: API_URL, ath: ath('another token') }) }) },
    { proves: 'a missing ath is refused', detail: 'wrong_ath', headers: async () => ({ dpop: await proof(key, { htu: API_URL }) }) },
    { proves: 'a proof by another key than cnf.jkt is refused', detail: 'wrong_key', headers: async () => ({ dpop: await proof(other, { htu: API_URL, token }) }) },
    { proves: 'an iat beyond DPOP_IAT_WINDOW in the past is refused', detail: 'stale_iat', headers: async () => ({ dpop: await proof(key, { htu: API_URL, token, iatOffset: -61 }) }) },
    { proves: 'an iat beyond DPOP_IAT_WINDOW in the future is refused', detail: 'stale_iat', headers: async () => ({ dpop: await proof(key, { htu: API_URL, token, iatOffset: 61 }) }) },
    { proves: 'typ JWT instead of dpop+jwt is refused', detail: 'wrong_typ', headers: async () => ({ dpop: await proof(key, { htu: API_URL, token, typ: 'JWT' }) }) },
    { proves: 'a jwk holding the private key is refused', detail: 'bad_jwk', headers: async () => ({ dpop: await proof(key, { htu: API_URL, token, jwk: { ...key.jwk, d: 'AAAA' } }) }) },
    { proves: 'a jwk meant for another algorithm or use is refused (RFC 7517 §4.2, §4.4)', detail: 'bad_jwk', headers: async () => ({ dpop: await proof(key, { htu: API_URL, token, jwk: { ...key.jwk, alg: 'ES384' } }) }) },
    { proves: 'a jwk for encryption is refused', detail: 'bad_jwk', headers: async () => ({ dpop: await proof(key, { htu: API_URL, token, jwk: { ...key.jwk, use: 'enc' } }) }) },
    { proves: 'a proof without jti is refused', detail: 'missing_claim', headers: async () => ({ dpop: await proof(key, { htu: API_URL, token, omit: ['jti'] }) }) },
    { proves: 'a proof that is not a JWS is refused', detail: 'malformed', headers: async () => ({ dpop: 'not-a-proof' }) },
    { proves: 'alg none is refused', detail: 'bad_alg', headers: async () => ({ dpop: `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })).toString('base64url')}.${Buffer.from(JSON.stringify({ jti: 'x', htm: 'GET', htu: API_URL, iat: Math.floor(Date.now() / 1000), ath: ath(token) })).toString('base64url')}.` }) },
    { proves: 'a signature by another key than the embedded jwk is refused', detail: 'bad_signature', headers: async () => ({ dpop: await proof({ ...other, jwk: key.jwk }, { htu: API_URL, token }) }) }
  ]
  for (const row of rows) {
    const a = await send(API_URL, { headers: { authorization: `DPoP ${token}`, ...await row.headers() } })
    t.equal(a.status, 401, row.proves)
    t.same(a.body, { error: 'invalid_dpop_proof', error_description: 'The DPoP proof is invalid' }, row.proves)
    t.equal(a.headers.get('www-authenticate'), BAD_PROOF, row.proves)
    t.equal(a.seen, undefined, `${row.proves}: nothing forwarded`)
    t.match(lastRefusal(), { reason: 'dpop_proof_rejected', stage: 'authenticate', detail: row.detail }, `${row.proves}: logged with its reason`)
  }
  const two = await fetch(API_URL, { headers: [['authorization', `DPoP ${token}`], ['dpop', await proof(key, { htu: API_URL, token })], ['dpop', await proof(key, { htu: API_URL, token })]] })
  t.equal(two.status, 401, 'RFC 9449 §4.3 check 1: two DPoP headers are refused')
})

t.test('RFC 9449 §11.1: the same proof (same jti) twice is refused the second time', async (t) => {
  const p = await proof(key, { htu: API_URL, token })
  const first = await send(API_URL, { headers: { authorization: `DPoP ${token}`, dpop: p } })
  t.equal(first.status, 200)
  const again = await send(API_URL, { headers: { authorization: `DPoP ${token}`, dpop: p } })
  t.equal(again.status, 401)
  t.equal(again.headers.get('www-authenticate'), BAD_PROOF)
  t.equal(again.seen, undefined)
  const jti = 'fixed-jti'
  t.equal((await send(TOKEN_URL, { form: LOGIN, headers: { dpop: await proof(key, { htm: 'POST', htu: TOKEN_URL, jti }) } })).status, 200)
  const replay = await send(TOKEN_URL, { form: LOGIN, headers: { dpop: await proof(key, { htm: 'POST', htu: TOKEN_URL, jti }) } })
  t.equal(replay.status, 400, 'a jti seen once is refused at the token endpoint too')
  t.same(replay.body, { error: 'invalid_dpop_proof', error_description: 'The DPoP proof is invalid' })
})

t.test('RFC 9449 §7.2: a bound token sent as Bearer is refused; an unbound token sent as DPoP is refused', async (t) => {
  const a = await callApi(token, { scheme: 'Bearer' })
  t.equal(a.status, 401)
  t.same(a.body, { error: 'invalid_token', error_description: 'The access token is bound to a DPoP key: send it with the DPoP scheme and a proof' })
  t.equal(a.headers.get('www-authenticate'), DPOP_CHALLENGE('invalid_token', 'The access token is bound to a DPoP key: send it with the DPoP scheme and a proof'))
  t.equal(a.seen, undefined)
  t.match(lastRefusal(), { reason: 'token_dpop_bound', detail: 'DPoP-bound token sent as Bearer' })
  const withProof = await callApi(token, { scheme: 'Bearer', key })
  t.equal(withProof.status, 401, 'a proof does not make the Bearer scheme acceptable')
  const optional = await callApi(token, { scheme: 'Bearer', url: `${gw.url}/maybe/x` })
  t.equal(optional.status, 401, 'auth: optional refuses it too, never anonymous')
  const plain = (await send(TOKEN_URL, { form: LOGIN })).body.access_token as string
  const b = await callApi(plain, { key })
  t.equal(b.status, 401)
  t.same(b.body, { error: 'invalid_token', error_description: 'The access token is invalid' })
  t.equal(b.headers.get('www-authenticate'), DPOP_CHALLENGE('invalid_token', 'The access token is invalid'))
  t.match(lastRefusal(), { reason: 'token_invalid', detail: 'DPoP scheme with an unbound token' })
  t.equal((await send(API_URL, { headers: { authorization: `DPoP ${token} extra` } })).status, 400, 'a malformed DPoP field is invalid_request')
})

t.test('RFC 9449 §5 / §5.2: a client registered with --dpop required never gets a bearer token', async (t) => {
  const form = { ...LOGIN, client_id: 'strict-app' }
  const a = await send(TOKEN_URL, { form })
  t.equal(a.status, 400)
  t.same(a.body, { error: 'invalid_dpop_proof', error_description: 'A DPoP proof is required for this client' })
  const ok = await login(key, form)
  t.equal(ok.token_type, 'DPoP')
  const r = await send(TOKEN_URL, { form: { grant_type: 'refresh_token', client_id: 'strict-app', refresh_token: ok.refresh_token as string } })
  t.equal(r.status, 400, 'nor at refresh')
  t.equal(r.body.error, 'invalid_dpop_proof')
})

t.test('RFC 9449 §5: a public client\'s refresh token is bound to the key; only a proof of it refreshes', async (t) => {
  const k = await dpopKey('ES256')
  const first = await login(k)
  const rt = first.refresh_token as string
  const refresh = (h: Record<string, string> = {}): Promise<Answer> => send(TOKEN_URL, { form: { grant_type: 'refresh_token', client_id: 'spa', refresh_token: rt }, headers: h })
  const noProof = await refresh()
  t.equal(noProof.status, 400)
  t.same(noProof.body, { error: 'invalid_grant', error_description: 'The grant is invalid, expired or revoked' })
  const thief = await refresh({ dpop: await proof(await dpopKey(), { htm: 'POST', htu: TOKEN_URL }) })
  t.equal(thief.status, 400, 'another key: invalid_grant')
  const ok = await refresh({ dpop: await proof(k, { htm: 'POST', htu: TOKEN_URL }) })
  t.equal(ok.status, 200, 'the refused attempts did not burn the token')
  t.equal(ok.body.token_type, 'DPoP')
  t.same(decodeSegment(ok.body.access_token as string, 1).cnf, { jkt: k.jkt }, 'the new access token is bound to the same key')
  t.equal((await callApi(ok.body.access_token as string, { key: k })).status, 200)
})

t.test('RFC 9449 §8, §9: DPOP_NONCE=1 requires server nonces at the token endpoint and at the edge', async (t) => {
  const ngw = await startTestGateway(t, { routes: ROUTES, env: { DPOP_NONCE: '1' }, store: gw.store, keys: gw.keys })
  const tokenUrl = `${ngw.url}/oauth/token`
  const apiUrl = `${ngw.url}/api/orders/7`
  const first = await send(tokenUrl, { form: LOGIN, headers: { dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) } })
  t.equal(first.status, 400)
  t.same(first.body, { error: 'use_dpop_nonce', error_description: 'A DPoP proof with a fresh server nonce is required' })
  const nonce = first.headers.get('dpop-nonce')
  t.match(nonce, /^[0-9a-z]+\.[A-Za-z0-9_-]{32}$/)
  const wrong = await send(tokenUrl, { form: LOGIN, headers: { dpop: await proof(key, { htm: 'POST', htu: tokenUrl, nonce: `${nonce!.split('.')[0]!}.${'A'.repeat(32)}` }) } })
  t.equal(wrong.body.error, 'use_dpop_nonce', 'a forged nonce is no nonce')
  const ok = await send(tokenUrl, { form: LOGIN, headers: { dpop: await proof(key, { htm: 'POST', htu: tokenUrl, nonce: nonce! }) } })
  t.equal(ok.status, 200)
  t.ok(ok.headers.get('dpop-nonce'), 'a success carries the next nonce')
  const tok = ok.body.access_token as string
  const edge = await send(apiUrl, { headers: { authorization: `DPoP ${tok}`, dpop: await proof(key, { htu: apiUrl, token: tok }) } })
  t.equal(edge.status, 401)
  t.same(edge.body, { error: 'use_dpop_nonce', error_description: 'A DPoP proof with a fresh server nonce is required' })
  t.equal(edge.headers.get('www-authenticate'), DPOP_CHALLENGE('use_dpop_nonce', 'A DPoP proof with a fresh server nonce is required'))
  const edgeNonce = edge.headers.get('dpop-nonce')!
  const pass = await send(apiUrl, { headers: { authorization: `DPoP ${tok}`, dpop: await proof(key, { htu: apiUrl, token: tok, nonce: edgeNonce }) } })
  t.equal(pass.status, 200)
  t.equal(pass.seen!.headers['x-auth-token-type'], 'DPoP')
  const noNonceGw = await send(API_URL, { headers: { authorization: `DPoP ${tok}`, dpop: await proof(key, { htu: API_URL, token: tok }) } })
  t.equal(noNonceGw.status, 200, 'a gateway without DPOP_NONCE asks for none')
})

t.test('RFC 9449 §4.3 check 9 behind a proxy: htu is the URL as the gateway sees it; X-Forwarded-Proto/Host count only from TRUST_PROXY peers', async (t) => {
  const proxied = await startTestGateway(t, { routes: ROUTES, env: { TRUST_PROXY: '127.0.0.1' }, store: gw.store, keys: gw.keys })
  const publicUrl = 'https://api.example/api/orders/7'
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example' }
  const call = async (url: string, htu: string): Promise<Answer> =>
    await send(url, { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htu, token }), ...forwarded } })
  t.equal((await call(`${proxied.url}/api/orders/7`, publicUrl)).status, 200, 'a trusted proxy: the public https URL')
  t.equal((await call(`${proxied.url}/api/orders/7`, 'https://API.example:443/api/%6Frders/7')).status, 200, 'compared normalised (RFC 3986 §6.2.2, §6.2.3)')
  t.equal((await call(`${proxied.url}/api/orders/7`, `${proxied.url}/api/orders/7`)).status, 401, 'not the hop behind the proxy')
  t.equal((await call(API_URL, publicUrl)).status, 401, 'an untrusted peer cannot choose the scheme and host the proof is checked against')
  t.equal((await call(API_URL, API_URL)).status, 200, 'the untrusted peer\'s own URL')
})

t.test('RFC 9449 §6.2: introspection tells a DPoP-bound token by token_type and cnf.jkt', async (t) => {
  const auth = { authorization: basic('web', FIXTURE.webSecret) }
  const web = await send(TOKEN_URL, { form: { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password }, headers: { ...auth, dpop: await proof(key, { htm: 'POST', htu: TOKEN_URL }) } })
  t.equal(web.body.token_type, 'DPoP', 'a confidential client gets bound access tokens too')
  const res = await send(`${gw.url}/oauth/introspect`, { form: { token: web.body.access_token as string }, headers: auth })
  t.match(res.body, { active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } })
  const plain = await send(TOKEN_URL, { form: { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password }, headers: auth })
  const bearer = await send(`${gw.url}/oauth/introspect`, { form: { token: plain.body.access_token as string }, headers: auth })
  t.match(bearer.body, { active: true, token_type: 'Bearer' })
  t.notOk('cnf' in bearer.body)
})

t.test('fail closed: a store that cannot claim the proof\'s jti is 503 + Retry-After, never a pass', async (t) => {
  const { store, hooks } = hookedStore(gw.store)
  const down = await startTestGateway(t, { routes: ROUTES, store, keys: gw.keys, logger: logs.logger })
  const url = `${down.url}/api/orders/7`
  hooks.failFrom(1)
  const a = await send(url, { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htu: url, token }) } })
  hooks.heal()
  t.equal(a.status, 503)
  t.same(a.body, { error: 'temporarily_unavailable', error_description: 'The token store is unavailable; retry later' })
  t.equal(a.headers.get('retry-after'), '2')
  t.equal(a.seen, undefined)
  t.same(hooks.calls, ['claimOnce'], 'the jti claim was the call that failed')
  t.match(lastRefusal(), { reason: 'store_unavailable', detail: 'DPoP proof check failed' })
  hooks.onceAfter('claimOnce', async () => { throw new TypeError('test: a bug, not an outage') })
  const bug = await send(url, { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htu: url, token }) } })
  t.equal(bug.status, 500, 'anything else is no outage: a generic 500, never a pass')
  t.same(bug.body, { error: 'server_error', error_description: 'Internal error' })
})
