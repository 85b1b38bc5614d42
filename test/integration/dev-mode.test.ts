// `portcullis dev` (npm start) as a newcomer meets it (issue 9): a real process with the bundled
// routes.yaml and the demo upstream moved to a free DEMO_UPSTREAM_PORT. The bundled map must follow
// the demo upstream, and README "Try it" must work as written, introspection included.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freePort, spawnGateway } from '../helpers/spawn-gateway.js'
import { ROOT_URL } from '../helpers/root.js'

t.setTimeout(180_000) // a real gateway and a shell running curl, on a loaded machine

const README = readFileSync(new URL('README.md', ROOT_URL), 'utf8')
const BUNDLED_ROUTES = fileURLToPath(new URL('routes.yaml', ROOT_URL))

const demoPort = await freePort()
const gw = await spawnGateway(['dev'], { BCRYPT_COST: '4', DEMO_UPSTREAM_PORT: String(demoPort), ROUTES_FILE: BUNDLED_ROUTES },
  /Portcullis is running/)
t.teardown(async () => {
  if (gw.child.exitCode === null) gw.child.kill('SIGTERM')
  await gw.exited
})

t.test('DEMO_UPSTREAM_PORT: the bundled routes follow the demo upstream (no 502)', async (t) => {
  const res = await fetch(`${gw.url}/catalog/items`)
  t.equal(res.status, 200)
  t.match(await res.json(), { upstream: 'demo', method: 'GET', path: '/catalog/items' }, 'answered by the demo upstream')
  t.match(gw.output(), `demo upstream on 127.0.0.1:${demoPort}`, 'the hints name the port actually used')
})

t.test('the hints name the confidential demo client and its secret', async (t) => {
  t.match(gw.output(), /confidential client "demo-service" \/ secret "demo-service-secret"/)
  const basic = `Basic ${Buffer.from('demo-service:demo-service-secret').toString('base64')}`
  const res = await fetch(`${gw.url}/oauth/token`, { method: 'POST', headers: { authorization: basic }, body: new URLSearchParams({ grant_type: 'client_credentials' }) })
  t.equal(res.status, 200, 'RFC 6749 §4.4: client credentials grant with the printed secret')
  t.match(await res.json(), { token_type: 'Bearer', scope: 'orders:read' })
})

/** The first ```sh block after `heading` in the README. */
function readmeBlock (heading: string): string {
  const from = README.indexOf(heading)
  const m = /```sh\n([\s\S]*?)```/.exec(README.slice(from))
  if (from < 0 || m === null) throw new Error(`README has no sh block after ${heading}`)
  return m[1]!
}

/** The top-level JSON values in `text`, in order (pretty-printed or not, with or without newlines). */
function jsonValues (text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  let depth = 0
  let start = -1
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if (c === '{' && depth++ === 0) start = i
    else if (c === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)) as Record<string, unknown>)
  }
  return out
}

const noCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status !== 0

t.test('README "Try it" runs as written against dev mode; introspection answers active', { skip: noCurl && 'curl is not installed' }, async (t) => {
  const block = readmeBlock('### Try it (`npm start`)')
  t.match(block, 'http://127.0.0.1:8080', 'the README uses the default address')
  const script = block.replaceAll('http://127.0.0.1:8080', gw.url)
  const run = spawnSync('sh', ['-e', '-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 })
  t.equal(run.status, 0, `the block exits 0 (stderr: ${run.stderr})`)
  const replies = jsonValues(run.stdout)
  t.match(replies[0], { upstream: 'demo', path: '/catalog/items' }, 'the public route')
  t.match(replies[1], { upstream: 'demo', path: '/orders/42', identity: { 'x-auth-subject': 'demo', 'x-auth-client-id': 'demo-app' } },
    'the protected route, with identity headers')
  t.match(replies[2], { active: true, client_id: 'demo-service', scope: 'orders:read' }, 'RFC 7662 §2.2: the client\'s own token is active')
  t.equal(replies.length, 3, 'three answers printed')
})
