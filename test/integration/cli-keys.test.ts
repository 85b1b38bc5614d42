// `portcullis keys rotate | list` as a real process against a real redis-server (issue 3 §4):
// a rotation adds the signing key at once and retires the old one after the longest token lifetime;
// only kid, alg and dates are printed, never key material. Also the store and environment failures.
import t from 'tap'
import { createStore, RedisStore } from '../../src/store/index.js'
import { freePort, startRedis } from '../helpers/redis-server.js'
import { json, runCli, transcript, type CliResult } from '../fixtures/run-cli.js'

const redis = await startRedis()
const store = createStore({ redisUrl: redis.url, timeoutMs: 2000 })
if (store instanceof RedisStore) await store.ready(2000)
t.teardown(async () => { await store.close(); await redis.stop() })

// ACCESS_TOKEN_TTL + CLOCK_SKEW = 130 s: the longest a token signed by a retired key can live
const env = { REDIS_URL: redis.url, SIGNING_ALG: 'EdDSA', ACCESS_TOKEN_TTL: '100', CLOCK_SKEW: '30' }
const keys = async (args: string[], extra: Record<string, string | undefined> = {}): Promise<CliResult> =>
  await runCli(['keys', ...args], { env: { ...env, ...extra } })
interface KeyJson { kid: string; alg: string; created_at: number; retire_at: number | null; current: boolean }

t.test('rotate: a new signing key of SIGNING_ALG, then --alg; the older key retires after the longest token lifetime', async (t) => {
  const first = await keys(['rotate', '--json'])
  t.equal(first.code, 0, first.stderr)
  const a = json(first) as KeyJson
  t.same(Object.keys(a).sort(), ['alg', 'created_at', 'current', 'kid', 'retire_at'])
  t.match(a, { kid: /^[A-Za-z0-9_-]{43}$/, alg: 'EdDSA', retire_at: null, current: true })

  const start = Math.floor(Date.now() / 1000)
  const second = await keys(['rotate', '--alg', 'ES256'])
  t.equal(second.code, 0, second.stderr)
  const kids = (await store.listKeys()).map((k) => k.kid)
  t.equal(kids.length, 2)
  const b = kids.find((k) => k !== a.kid) ?? ''
  t.match(second.stdout, new RegExp(`^new signing key ${b} \\(ES256\\)`), 'names the new key')
  t.match(second.stdout, new RegExp(`\\nolder key ${a.kid} \\(EdDSA\\): retires \\d{4}-`), 'and when the old one retires')
  const old = (await store.listKeys()).find((k) => k.kid === a.kid)
  t.ok(old?.retireAt !== null && (old?.retireAt ?? 0) >= start + 130, 'published for at least ACCESS_TOKEN_TTL + CLOCK_SKEW')

  const listed = await keys(['list', '--json'])
  t.equal(listed.code, 0, listed.stderr)
  t.match(json(listed), [{ kid: a.kid, alg: 'EdDSA', current: false, retire_at: Number }, { kid: b, alg: 'ES256', current: true, retire_at: null }])
})

t.test('bad input and failures: one line on stderr, nothing on stdout', async (t) => {
  const dead = `redis://127.0.0.1:${await freePort()}`
  const cases: Array<{ what: string; args: string[]; env?: Record<string, string | undefined>; code: number; stderr: RegExp }> = [
    { what: 'an algorithm we do not sign with', args: ['rotate', '--alg', 'HS256'], code: 2, stderr: /^portcullis: option '--alg <alg>' argument 'HS256' is invalid/ },
    { what: 'an invalid environment stops before the store', args: ['list'], env: { BCRYPT_COST: '99' }, code: 1, stderr: /^portcullis: invalid configuration: BCRYPT_COST="99"/ },
    { what: 'a store that does not answer within REDIS_TIMEOUT (credentials in the URL are not printed)', args: ['rotate'], env: { REDIS_URL: dead.replace('//', '//user:hunter2@') }, code: 1, stderr: /^portcullis: store unavailable: no answer from Redis at 127\.0\.0\.1:\d+ within 1 s$/ }
  ]
  // a CLI that hung on the unreachable store would be killed by runCli (exit code null, not 1)
  const results = await Promise.all(cases.map(async (c) => await keys(c.args, c.env)))
  cases.forEach((c, i) => {
    const r = results[i] as CliResult
    t.equal(r.code, c.code, `${c.what}: exit ${c.code}`)
    t.equal(r.stdout, '', `${c.what}: nothing on stdout`)
    t.match(r.stderr, /^[^\n]+\n$/, `${c.what}: exactly one line on stderr`)
    t.match(r.stderr.trimEnd(), c.stderr, c.what)
  })
  t.equal((await store.listKeys()).length, 2, 'no key added by a failed run')
})

t.test('no output of any run contains key material or a credential', async (t) => {
  const all = transcript.join('\n')
  t.notMatch(all, /PRIVATE KEY|PUBLIC KEY|"d"\s*:|hunter2/)
})
