// Issue 11 item 2 on a real redis-server that speaks TLS only (a CA made with openssl in the test)
// and knows only one ACL user (the `default` user is off): the gateway, configured through the
// environment exactly as ops would (REDIS_URL rediss://, REDIS_USERNAME, REDIS_PASSWORD,
// REDIS_CA_FILE; they win over credentials in the URL), becomes ready; with a wrong password it does
// not, and no log line carries the password. Sentinel and Cluster with TLS and ACL: test/ha/redis-tls-acl.test.ts.
import t from 'tap'
import { startGateway } from '../../src/server.js'
import { loadConfig } from '../../src/config/env.js'
import { captureLogs, until } from '../helpers/log-capture.js'
import { writeRoutes } from '../helpers/gateway.js'
import { startServer } from '../helpers/redis-topology.js'

const PASSWORD = 'acl-pw-7f3c1e'
const redis = await startServer({ tls: true, acl: { username: 'portcullis', password: PASSWORD } })
t.teardown(() => redis.stop())
const routes = writeRoutes('version: 1\nupstreams:\n  up: { url: http://127.0.0.1:9, timeout: 1s }\nroutes:\n  - { path: /x, upstream: up, auth: none }\n')

function env (password: string): Record<string, string> {
  return {
    ROUTES_FILE: routes, PORT: '0', ADMIN_PORT: '0', REDIS_TIMEOUT: '1', LOG_LEVEL: 'info',
    REDIS_URL: redis.url.replace('//', '//someone:url-pw@'), REDIS_USERNAME: 'portcullis', REDIS_PASSWORD: password, REDIS_CA_FILE: redis.caFile ?? ''
  }
}

t.test('TLS with the test CA and an ACL user: the gateway is ready', async (t) => {
  t.match(redis.url, /^rediss:\/\//)
  const { logger, lines } = captureLogs()
  const gw = await startGateway(loadConfig(env(PASSWORD)), { logger })
  t.teardown(() => gw.close())
  const ready = await fetch(`${gw.url}/readyz`)
  t.equal(ready.status, 200)
  t.match(lines.find((l) => l.msg === 'store: Redis'), { target: /^Redis at 127\.0\.0\.1:\d+ \(TLS\)$/, min_replicas: 0 })
  t.notOk(JSON.stringify(lines).includes(PASSWORD), 'no log line carries the password')
})

t.test('a wrong password: not ready, and the password appears in no log line', async (t) => {
  const wrong = 'wrong-pw-91d2'
  const { logger, lines } = captureLogs()
  const gw = await startGateway(loadConfig(env(wrong)), { logger })
  t.teardown(() => gw.close())
  t.equal((await fetch(`${gw.url}/readyz`)).status, 503)
  await until(() => lines.some((l) => l.msg === 'redis unavailable'), 'the refusal is logged')
  t.match(lines.find((l) => l.msg === 'redis unavailable'), { target: /^Redis at 127\.0\.0\.1:\d+ \(TLS\)$/, err: /WRONGPASS/ })
  const all = JSON.stringify(lines)
  t.notOk(all.includes(wrong) || all.includes(PASSWORD), 'neither password is logged')
})
