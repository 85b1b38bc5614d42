// Non-negotiable: never log a token or a password. A real gateway process at LOG_LEVEL=trace goes
// through login, calls, refresh, failures and logout; its whole output must hold none of the secrets.
import t from 'tap'
import { pino } from 'pino'
import { loggerOptions, requestLoggerFactory } from '../../src/logging.js'
import { freePort, spawnGateway } from '../helpers/spawn-gateway.js'

t.test('no token, password or secret reaches the logs, even at trace level', async (t) => {
  const gw = await spawnGateway(['dev'], {
    LOG_LEVEL: 'trace', BCRYPT_COST: '4', DEMO_UPSTREAM_PORT: String(await freePort()), ROUTES_FILE: 'routes.yaml'
  }, /Portcullis is running/)
  t.teardown(() => { if (gw.child.exitCode === null) gw.child.kill('SIGKILL') })
  // dev mode sends routes.yaml's 127.0.0.1:9001 upstreams to the demo upstream on its free port; the
  // point here is what the gateway logs on the way.
  const token = async (params: Record<string, string>, headers: Record<string, string> = {}) => {
    const res = await fetch(`${gw.url}/oauth/token`, { method: 'POST', body: new URLSearchParams(params), headers })
    return { status: res.status, body: await res.json() as Record<string, string> }
  }
  const login = await token({ grant_type: 'password', client_id: 'demo-app', username: 'demo', password: 'demo-password', scope: 'orders:read' })
  t.equal(login.status, 200)
  const { access_token: access, refresh_token: refreshToken } = login.body
  t.ok(access && refreshToken)

  await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${access}` } })
  await fetch(`${gw.url}/orders/1?access_token=${access}`)
  await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${access}x` } })
  await fetch(`${gw.url}/catalog/x?access_token=query-token-secret`, { headers: { cookie: 'session=cookie-secret' } })
  const bad = await token({ grant_type: 'password', client_id: 'demo-app', username: 'demo', password: 'wrong-password-secret' })
  t.equal(bad.status, 400)
  await token({ grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from('demo-app:basic-secret-value').toString('base64')}` })
  await fetch(`${gw.url}/oauth/token?password=query-password-secret`, { method: 'POST', body: 'grant_type=password' })
  const refreshed = await token({ grant_type: 'refresh_token', client_id: 'demo-app', refresh_token: refreshToken! })
  t.equal(refreshed.status, 200)
  await fetch(`${gw.url}/oauth/revoke`, { method: 'POST', body: new URLSearchParams({ client_id: 'demo-app', token: refreshed.body.refresh_token! }) })

  gw.child.kill('SIGTERM')
  await gw.exited
  // the log lines (pino JSON); dev mode's printed hints name the demo password on purpose
  const logs = gw.output().split('\n').filter((l) => l.startsWith('{')).join('\n')
  t.ok(logs.split('\n').length > 20, 'the gateway logged plenty at trace level')
  const secrets: Record<string, string> = {
    'access token': access!,
    'access token signature': access!.split('.')[2]!,
    'refresh token': refreshToken!,
    'rotated refresh token': refreshed.body.refresh_token!,
    'rotated access token': refreshed.body.access_token!,
    password: 'demo-password',
    'wrong password': 'wrong-password-secret',
    'query token': 'query-token-secret',
    cookie: 'cookie-secret',
    'Basic secret': 'basic-secret-value',
    'Basic header': Buffer.from('demo-app:basic-secret-value').toString('base64'),
    'password in a query string': 'query-password-secret'
  }
  for (const [what, secret] of Object.entries(secrets)) {
    t.notOk(logs.includes(secret), `no ${what} in the logs`)
  }
})

t.test('a request\'s logger (src/logging.ts RequestLogger) writes what a pino child writes, and makes no child below its level', async (t) => {
  const lines: string[] = []
  const parent = pino({ ...loggerOptions('info'), timestamp: false }, { write: (s: string) => { lines.push(s) } })
  let children = 0
  const child = parent.child.bind(parent)
  parent.child = ((...a: Parameters<typeof child>) => { children++; return child(...a) }) as typeof parent.child
  const line = { method: 'GET', path: '/x', status: 200, headers: { authorization: 'Bearer secret-token' } }
  child({ reqId: 'r1' }).info({ ...line }, 'request')
  children = 0
  const log = requestLoggerFactory(parent, { reqId: 'r1' }, {})
  log.debug({ a: 1 }, 'below the level')
  log.info({ ...line }, 'request')
  t.equal(children, 0, 'no child for a line below the level, nor for a plain object')
  t.equal(lines.length, 2)
  t.equal(lines[1], lines[0], 'the same line as through a child: bindings first, redacted')
  t.notMatch(lines[1]!, /secret-token/)
  log.warn(new Error('boom'), 'failed')
  t.equal(children, 1, 'an Error is serialised by a real child')
  t.match(JSON.parse(lines[2]!), { reqId: 'r1', err: { message: 'boom' }, msg: 'failed' })
  const routeLevel = requestLoggerFactory(parent, { reqId: 'r2' }, { level: 'debug' })
  t.equal(children, 2, 'a route\'s own log level gets its child at once')
  routeLevel.debug({ b: 1 }, 'route level')
  t.match(JSON.parse(lines[3]!), { reqId: 'r2', b: 1 })
})
