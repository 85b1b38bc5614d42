// The dependency floor (security-catalogue §8 D01–D06). `npm audit` cannot reach the advisory
// service from these machines, so the floors that fix the catalogued advisories are written down
// here and checked against EVERY copy the lockfile installs (a transitive copy under another
// package counts as much as the top-level one), against package.json's own ranges, and against the
// running Node.js. Raising a floor: change FLOORS, `npm pkg set dependencies.NAME=^X.Y.Z`, `npm install`.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ROOT_URL } from '../helpers/root.js'

const root = ROOT_URL
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as { lockfileVersion: number, packages: Record<string, { version?: string, link?: boolean }> }
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { dependencies: Record<string, string>, devDependencies?: Record<string, string>, overrides?: Record<string, string>, engines?: { node?: string } }

/** Minimum version of each package: the installed one at the time of pinning, at or above the catalogue's fix. */
const FLOORS: Array<{ id: string, name: string, floor: string, advisoryFix: string, why: string }> = [
  { id: 'D01', name: 'fast-jwt', floor: '6.3.6', advisoryFix: '6.3.1', why: 'array-payload claim bypass, RSA→HS256 confusion via key prefixes, key required unless only none (GHSA-8wpc-h4q6-8fxv), crit handling, ReDoS' },
  { id: 'D02', name: '@fastify/http-proxy', floor: '11.6.3', advisoryFix: '11.6.2', why: 'backslash dot-segments (CVE-2026-85124), encoded prefix, WebSocket traversal' },
  { id: 'D03', name: '@fastify/reply-from', floor: '12.6.5', advisoryFix: '12.6.4', why: 'cache-key collision (CVE-2026-16158); TLS verification is forced on by our own undici Agent (H15)' },
  { id: 'D04', name: '@fastify/reply-from', floor: '12.6.5', advisoryFix: '12.6.1', why: 'Connection-listed headers stripped before rewriteRequestHeaders (H06)' }
]

type Version = [number, number, number, boolean]
function parse (v: string): Version {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(-.+)?$/.exec(v.trim())
  if (m === null) throw new Error(`not a version: ${v}`)
  return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] !== undefined]
}
/** a >= b, where a prerelease of X.Y.Z is below X.Y.Z. */
function atLeast (a: string, b: string): boolean {
  const [x, y] = [parse(a), parse(b)]
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] as number) > (y[i] as number)
  return !x[3] || y[3]
}

/** Every installed copy of `name`: each `…node_modules/name` entry in the lockfile. */
function copies (name: string): Array<{ where: string, version: string }> {
  return Object.entries(lock.packages)
    .filter(([where, p]) => (where === `node_modules/${name}` || where.endsWith(`/node_modules/${name}`)) && p.link !== true)
    .map(([where, p]) => ({ where, version: p.version ?? '' }))
}

t.test('the version comparison is right (or every floor below would be meaningless)', async (t) => {
  t.ok(atLeast('6.3.6', '6.3.1'))
  t.ok(atLeast('6.3.1', '6.3.1'))
  t.notOk(atLeast('6.3.0', '6.3.1'))
  t.notOk(atLeast('6.2.9', '6.3.1'))
  t.notOk(atLeast('5.99.99', '6.0.0'))
  t.notOk(atLeast('6.3.1-rc.1', '6.3.1'), 'a prerelease is below its release')
  t.ok(atLeast('12.10.0', '12.6.4'), 'numeric, not lexical')
})

t.test('the lockfile is one npm can read (v2/v3 with a packages map)', async (t) => {
  t.ok(lock.lockfileVersion >= 2)
  t.ok(Object.keys(lock.packages).length > 10)
})

for (const f of FLOORS) {
  t.test(`${f.id}: every installed ${f.name} is ≥ ${f.floor} (advisories fixed in ${f.advisoryFix}: ${f.why})`, async (t) => {
    t.ok(atLeast(f.floor, f.advisoryFix), 'the floor itself is at or above the fixing release')
    const found = copies(f.name)
    t.ok(found.length > 0, `${f.name} is in the lockfile`)
    for (const c of found) t.ok(atLeast(c.version, f.floor), `${c.where}@${c.version} ≥ ${f.floor}`)
    // @fastify/http-proxy is a devDependency now (bench/ targets only; test/unit/package-deps.test.ts)
    const range = pkg.dependencies[f.name] ?? pkg.devDependencies?.[f.name]
    t.match(range, /^\^?\d+\.\d+\.\d+$/, `package.json pins ${f.name} with a plain (caret) version`)
    t.ok(range !== undefined && atLeast(range.replace(/^\^/, ''), f.floor), `package.json range ${range} starts at the floor`)
  })
}

t.test('D01, D03: overrides hold transitive copies (fast-jwt under @fastify/jwt, reply-from under http-proxy: devDependencies of bench/) to the top-level range', async (t) => {
  t.equal(pkg.overrides?.['fast-jwt'], '$fast-jwt')
  t.equal(pkg.overrides?.['@fastify/reply-from'], '$@fastify/reply-from')
})

t.test('D05: @fastify/middie is not installed (path-scoped middleware auth is not used); if it ever is, ≥ 9.2.0', async (t) => {
  for (const c of copies('@fastify/middie')) t.ok(atLeast(c.version, '9.2.0'), `${c.where}@${c.version}`)
  t.equal(pkg.dependencies['@fastify/middie'], undefined)
})

t.test('D06: Node.js is a patched LTS ≥ 20.19 and runs no insecure HTTP parser', async (t) => {
  const [major, minor] = parse(process.version)
  t.equal(major % 2, 0, `${process.version}: an even (LTS) major`)
  t.ok(major > 20 || (major === 20 && minor >= 19), `${process.version} ≥ 20.19 (llhttp fixes; engines ${pkg.engines?.node ?? '?'})`)
  t.type(process.release.lts, 'string', 'process.release.lts names an LTS line')
  t.equal(pkg.engines?.node, '>=20.19', 'package.json engines states the same floor')
  t.notOk(process.execArgv.some((a) => a.includes('insecure-http-parser')), 'no --insecure-http-parser flag')
  t.notOk((process.env.NODE_OPTIONS ?? '').includes('insecure-http-parser'), 'no --insecure-http-parser in NODE_OPTIONS')
})
