// `portcullis clients …` as a real process against a real redis-server (issue 3 §1): a confidential
// client's secret is printed once by the command that made it, never a hash; bad input is one line.
import t from 'tap'
import { verifySecret } from '../../src/oauth/passwords.js'
import { createStore, RedisStore } from '../../src/store/index.js'
import { startRedis } from '../helpers/redis-server.js'
import { json, runCli, transcript, type CliResult } from '../fixtures/run-cli.js'

const redis = await startRedis()
const store = createStore({ redisUrl: redis.url, timeoutMs: 2000 })
if (store instanceof RedisStore) await store.ready(2000)
t.teardown(async () => { await store.close(); await redis.stop() })

const env = { REDIS_URL: redis.url }
const clients = async (args: string[]): Promise<CliResult> => await runCli(['clients', ...args], { env })
const secretHashOf = async (id: string): Promise<string | null> => (await store.getClient(id))?.secretHash ?? null
const SECRET = /^[A-Za-z0-9_-]{43}$/ // 32 random bytes, base64url
const secrets: string[] = []

t.test('add --json prints exactly {"client_id", "client_secret"}; the secret verifies against the stored hash', async (t) => {
  const r = await clients(['add', 'web', '--grants', 'password refresh_token client_credentials', '--scopes', 'read write', '--json'])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '')
  const out = json(r) as { client_id: string; client_secret: string }
  t.same(Object.keys(out), ['client_id', 'client_secret'])
  t.equal(out.client_id, 'web')
  t.match(out.client_secret, SECRET)
  secrets.push(out.client_secret)
  t.equal(await verifySecret(out.client_secret, await secretHashOf('web')), true)
  t.match(await store.getClient('web'), { grants: ['password', 'refresh_token', 'client_credentials'], scopes: ['read', 'write'], disabled: false })
})

t.test('add --public: no secret (null in JSON), nothing hashed', async (t) => {
  const r = await clients(['add', 'spa', '--grants', 'password refresh_token', '--scopes', 'read', '--public', '--json'])
  t.equal(r.code, 0, r.stderr)
  t.same(json(r), { client_id: 'spa', client_secret: null })
  t.equal(await secretHashOf('spa'), null)
})

t.test('rotate-secret (text): a new secret, shown once; the old one stops working', async (t) => {
  const r = await clients(['rotate-secret', 'web'])
  t.equal(r.code, 0, r.stderr)
  const m = /^client_id: +web\nclient_secret: +(\S+)\nStore the secret now: it is not shown again\.\n$/.exec(r.stdout)
  t.ok(m, `text output: ${r.stdout}`)
  const secret = m?.[1] ?? ''
  t.match(secret, SECRET)
  secrets.push(secret)
  const hash = await secretHashOf('web')
  t.equal(await verifySecret(secret, hash), true)
  t.equal(await verifySecret(secrets[0] ?? '', hash), false, 'the first secret no longer works')
})

t.test('disable refuses the client at once; enable allows it again', async (t) => {
  const off = await clients(['disable', 'web', '--json'])
  t.equal(off.code, 0, off.stderr)
  t.same(Object.keys(json(off) as object).sort(), ['client_id', 'consent', 'created_at', 'disabled', 'dpop', 'grants', 'introspect', 'public', 'redirect_uris', 'scopes'])
  t.match(json(off), { client_id: 'web', public: false, disabled: true })
  t.equal((await store.checkRevocation({ jti: 'j', sub: 'u', clientId: 'web' })).clientDisabled, true)
  const on = await clients(['enable', 'web'])
  t.same(on, { code: 0, stdout: 'client web enabled\n', stderr: '' })
  t.equal((await store.checkRevocation({ jti: 'j', sub: 'u', clientId: 'web' })).clientDisabled, false)
})

t.test('add --introspect: a resource server that may introspect other clients\' tokens (RFC 7662 §2.1)', async (t) => {
  const r = await clients(['add', 'orders-api', '--grants', 'client_credentials', '--scopes', '', '--introspect', '--json'])
  t.equal(r.code, 0, r.stderr)
  secrets.push((json(r) as { client_secret: string }).client_secret)
  t.equal((await store.getClient('orders-api'))?.introspect, true)
  const pub = await clients(['add', 'spa2', '--grants', 'password', '--scopes', 'read', '--public', '--introspect'])
  t.same({ code: pub.code, stdout: pub.stdout }, { code: 2, stdout: '' }, 'a public client cannot introspect: usage error')
  t.match(pub.stderr, /^portcullis: a public client cannot introspect \(RFC 7662 §2\.1: it cannot authenticate\)\n$/)
  t.equal(await store.getClient('spa2'), null)
})

t.test('add --redirect-uri (repeatable) --consent, set-redirect-uris: RFC 8252 §7 kinds; a bad URI is a usage error', async (t) => {
  const r = await clients(['add', 'mobile', '--grants', 'authorization_code refresh_token', '--scopes', 'read', '--public', '--consent',
    '--redirect-uri', 'com.example.app:/oauth/callback', '--redirect-uri', 'http://127.0.0.1/cb', '--json'])
  t.equal(r.code, 0, r.stderr)
  t.match(await store.getClient('mobile'), { redirectUris: ['com.example.app:/oauth/callback', 'http://127.0.0.1/cb'], consent: true })
  const set = await clients(['set-redirect-uris', 'mobile', 'https://app.example.com/cb', 'http://[::1]/cb', '--json'])
  t.equal(set.code, 0, set.stderr)
  t.match(json(set), { client_id: 'mobile', redirect_uris: ['https://app.example.com/cb', 'http://[::1]/cb'], consent: true })
  const bad = await Promise.all([
    clients(['set-redirect-uris', 'mobile', 'http://localhost/cb']),
    clients(['set-redirect-uris', 'mobile']),
    clients(['add', 'm2', '--grants', 'authorization_code', '--scopes', 'read', '--public']),
    clients(['add', 'm3', '--grants', 'authorization_code', '--scopes', 'read', '--public', '--redirect-uri', 'https://a.example/cb#frag'])
  ])
  t.match(bad.map((b) => b.code), [2, 2, 2, 2], 'usage errors')
  t.match(bad[0]!.stderr, /^portcullis: invalid redirect URI "http:\/\/localhost\/cb": http is allowed only for the loopback IP literals/)
  t.match(bad[1]!.stderr, /needs at least one redirect URI/)
  t.match(bad[3]!.stderr, /a fragment is not allowed/)
  t.match(await store.getClient('mobile'), { redirectUris: ['https://app.example.com/cb', 'http://[::1]/cb'] }, 'unchanged by the refusals')
  t.equal(await store.getClient('m2'), null)
})

t.test('rotate-secret racing disable as two real processes: disabled, with the rotated secret (issue 9 item 14)', async (t) => {
  const [rotated, disabled] = await Promise.all([clients(['rotate-secret', 'web', '--json']), clients(['disable', 'web'])])
  t.equal(rotated.code, 0, rotated.stderr)
  t.equal(disabled.code, 0, disabled.stderr)
  const secret = (json(rotated) as { client_secret: string }).client_secret
  secrets.push(secret)
  t.equal((await store.getClient('web'))?.disabled, true, 'the disable is never undone by the rotation')
  t.equal(await verifySecret(secret, await secretHashOf('web')), true, 'the rotation is never undone by the disable')
  t.equal((await clients(['enable', 'web'])).code, 0)
})

t.test('list: JSON and text, never a secret or a hash', async (t) => {
  const [asJson, asText] = await Promise.all([clients(['list', '--json']), clients(['list'])])
  t.equal(asJson.code, 0, asJson.stderr)
  t.match(json(asJson), [
    { client_id: 'mobile', public: true, grants: ['authorization_code', 'refresh_token'], redirect_uris: ['https://app.example.com/cb', 'http://[::1]/cb'], consent: true },
    { client_id: 'orders-api', public: false, grants: ['client_credentials'], scopes: [], disabled: false, introspect: true, redirect_uris: [], consent: false, created_at: Number },
    { client_id: 'spa', public: true, grants: ['password', 'refresh_token'], scopes: ['read'], disabled: false, introspect: false, created_at: Number },
    { client_id: 'web', public: false, grants: ['password', 'refresh_token', 'client_credentials'], scopes: ['read', 'write'], disabled: false, introspect: false, created_at: Number }
  ])
  t.equal((json(asJson) as unknown[]).length, 4)
  t.equal(asText.code, 0, asText.stderr)
  t.match(asText.stdout, /^CLIENT_ID +TYPE +STATUS +INTROSPECT +DPOP +CREATED +GRANTS +SCOPES\nmobile +public .+\norders-api +confidential +active +any +optional .+\nspa +public +active +own +optional .+\nweb +confidential +active +own +optional .+ read write\n$/)
  for (const s of secrets) t.notOk(asJson.stdout.includes(s) || asText.stdout.includes(s), 'no secret in the listing')
})

t.test('bad input: one line on stderr, nothing on stdout, nothing changed', async (t) => {
  const before = await store.getClient('web')
  const cases: Array<{ what: string; args: string[]; code: number; stderr: RegExp }> = [
    { what: 'RFC 6749 §4.4: a public client cannot use client_credentials', args: ['add', 'cli', '--grants', 'client_credentials', '--scopes', 'x', '--public'], code: 2, stderr: /^portcullis: a public client cannot have the client_credentials grant/ },
    { what: 'an unsupported grant', args: ['add', 'cli', '--grants', 'password implicit', '--scopes', 'x'], code: 2, stderr: /^portcullis: unsupported grant "implicit"/ },
    { what: 'a duplicate id keeps the first client and its secret', args: ['add', 'web', '--grants', 'password', '--scopes', 'x', '--json'], code: 1, stderr: /^portcullis: client "web" already exists$/ },
    { what: 'a public client has no secret to rotate', args: ['rotate-secret', 'spa'], code: 2, stderr: /^portcullis: client "spa" is public: it has no secret$/ },
    { what: 'rotate-secret of an unknown client', args: ['rotate-secret', 'nobody', '--json'], code: 1, stderr: /^portcullis: no client "nobody"$/ },
  ]
  const results = await Promise.all(cases.map(async (c) => await clients(c.args)))
  cases.forEach((c, i) => {
    const r = results[i] as CliResult
    t.equal(r.code, c.code, `${c.what}: exit ${c.code}`)
    t.equal(r.stdout, '', `${c.what}: nothing on stdout`)
    t.match(r.stderr, /^[^\n]+\n$/, `${c.what}: exactly one line on stderr`)
    t.match(r.stderr.trimEnd(), c.stderr, c.what)
  })
  t.equal(await store.getClient('cli'), null, 'no client was created')
  t.same(await store.getClient('web'), before, 'web is unchanged')
})

t.test('no output of any run contains a bcrypt hash; each secret was printed exactly once', async (t) => {
  const all = transcript.join('\n')
  t.notMatch(all, /\$2[aby]\$\d\d\$/)
  t.equal(secrets.length, 4)
  for (const s of secrets) t.equal(all.split(s).length - 1, 1, 'printed once')
})
