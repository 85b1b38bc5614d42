// The pure parts of DPoP (RFC 9449): server nonces (§8, §9) valid in their slot and the next one on
// any instance sharing the secret; htu normalisation (§4.3 check 9, RFC 3986 §6.2.2, §6.2.3); the
// sealed successor of the refresh grace window (only the old token opens it).
import t from 'tap'
import { loadConfig } from '../../src/config/env.js'
import { normalizeHtu } from '../../src/oauth/dpop.js'
import { dpopSettings } from '../../src/oauth/dpop-request.js'
import { dpopEdge } from '../../src/pipeline/dpop-proof.js'
import { DpopNonces } from '../../src/oauth/dpop-nonce.js'
import { openSuccessor, sealSuccessor } from '../../src/oauth/refresh-grace.js'
import { MemoryStore } from '../../src/store/index.js'

t.test('RFC 9449 §8: a nonce is good in its slot and the next, on every instance sharing the store\'s secret', async (t) => {
  const store = new MemoryStore()
  t.teardown(async () => { await store.close() })
  const a = new DpopNonces(store, 60)
  const b = new DpopNonces(store, 60)
  await a.ready()
  await b.ready()
  const now = 1_800_000_000 // a slot boundary: 1_800_000_000 / 60 = 30_000_000
  const n = a.issue(now)
  t.equal(b.check(n, now), true, 'another instance accepts it')
  t.equal(b.check(n, now + 119), true, 'and in the next slot')
  t.equal(b.check(n, now + 120), false, 'not two slots later')
  t.equal(b.check(n, now - 1), false, 'not before its slot')
  const [slot, mac] = n.split('.') as [string, string]
  t.equal(b.check(`${slot}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, now), false, 'a changed MAC')
  t.equal(b.check(`0${slot}.${mac}`, now), false, 'the slot has one spelling')
  t.equal(b.check(`${(Number.parseInt(slot, 36) + 1).toString(36)}.${mac}`, now + 60), false, 'the MAC covers the slot')
  for (const bad of [undefined, 42, '', '.', 'x'.repeat(65), slot]) t.equal(b.check(bad, now), false, JSON.stringify(bad))
  const other = new MemoryStore()
  t.teardown(async () => { await other.close() })
  const c = new DpopNonces(other, 60)
  await c.ready()
  t.equal(c.check(n, now), false, 'another deployment\'s secret')
})

t.test('RFC 9449 §4.3 check 9: htu compared without query and fragment, normalised', async (t) => {
  const rows: Array<[string, string | null]> = [
    ['https://API.Example:443/a/b?x=1#f', 'https://api.example/a/b'],
    ['http://h:80/%7e%41%2f', 'http://h/~A%2F'],
    ['http://h:8080/', 'http://h:8080/'],
    ['ftp://h/a', null],
    ['not a url', null]
  ]
  for (const [input, want] of rows) t.equal(normalizeHtu(input), want, input)
})

t.test('REFRESH_GRACE: the successor is sealed under the old token; no other token opens it', async (t) => {
  const sealed = sealSuccessor('old-token', 'successor-token')
  t.notMatch(sealed, /successor/)
  t.equal(openSuccessor('old-token', sealed), 'successor-token')
  t.equal(openSuccessor('other-token', sealed), null)
  t.not(sealSuccessor('old-token', 'successor-token'), sealed, 'a fresh IV each time')
  const raw = Buffer.from(sealed, 'base64url')
  raw[14] = raw[14]! ^ 1
  t.equal(openSuccessor('old-token', raw.toString('base64url')), null, 'a damaged entry opens to nothing')
  t.equal(openSuccessor('old-token', 'short'), null)
})

t.test('RFC 9449 §7.1: the DPoP authorization scheme has Bearer\'s syntax', async (t) => {
  const edge = dpopEdge(dpopSettings(loadConfig({}), new MemoryStore()), 'portcullis')
  const rows: Array<[string, string | null | { problem: string }]> = [
    ['DPoP abc.def.ghi', 'abc.def.ghi'],
    ['dpop abc', 'abc'],
    ['DPOP abc', 'abc'],
    ['DPoP', { problem: 'DPoP scheme without a token' }],
    ['DPoP ', { problem: 'Malformed Authorization header' }],
    ['DPoP\tabc', { problem: 'Malformed Authorization header' }],
    ['DPoP  abc', { problem: 'Malformed Authorization header' }],
    ['DPoP abc def', { problem: 'Malformed Authorization header' }],
    ['DPoPabc', null],
    ['DPo', null],
    ['Basic dXNlcjpwYXNz', null],
    ['HOBA result=x', null],
    ['Bearer abc', null]
  ]
  for (const [value, want] of rows) t.same(edge.parse(value), want, JSON.stringify(value))
})
