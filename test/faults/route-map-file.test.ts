// Catalogue F18 (file variant): the route-map file of a running gateway process is deleted, then
// replaced by something unreadable. The old map stays live (requests keep being routed, /readyz
// stays 200) and each failed reload is logged with its cause. test/unit/route-watcher.test.ts covers
// the deletion and re-creation at the RouteWatcher level; this is the same through a real process.
//
// "Unreadable": the tests run as root, and chmod 000 does not stop root from reading, so the file
// is replaced by a directory of the same name (read fails with EISDIR, the same code path as EACCES:
// loadRouteTable → RouteMapError "cannot read the route map"). Both the file watcher and SIGHUP are exercised.
import { mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { writeRoutes } from '../helpers/gateway.js'
import { spawnGateway } from '../helpers/spawn-gateway.js'

const echo = await startEchoUpstream()
t.teardown(() => echo.close())
const map = `
version: 1
upstreams:
  echo: { url: ${echo.url}, timeout: 2s }
routes:
  - path: /a/*
    upstream: echo
    auth: none
`
const file = writeRoutes(map)
const gw = await spawnGateway(['serve'], { ROUTES_FILE: file, LOG_LEVEL: 'info' })
t.teardown(() => { if (gw.child.exitCode === null) gw.child.kill('SIGKILL') })

async function waitForLog (pattern: RegExp, from: number, what: string): Promise<boolean> {
  const deadline = Date.now() + 15_000 // a hang guard, not a speed claim
  while (Date.now() < deadline) {
    if (pattern.test(gw.output().slice(from))) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function stillRouted (): Promise<[number, number]> {
  const before = echo.seen.length
  const res = await fetch(`${gw.url}/a/still-here`)
  await res.arrayBuffer()
  const ready = await fetch(`${gw.url}/readyz`)
  await ready.arrayBuffer()
  return [res.status === 200 && echo.seen.length === before + 1 ? 200 : res.status, ready.status]
}

t.test('the route-map file is deleted: old map stays live, logged', async (t) => {
  t.same(await stillRouted(), [200, 200], 'served before')
  const from = gw.output().length
  unlinkSync(file)
  t.ok(await waitForLog(/cannot read the route map: no such file/, from, 'the deletion to be logged'), 'logged: no such file')
  // a separate log line, which may arrive in a later chunk of the child's stdout: waited for, not assumed
  t.ok(await waitForLog(/"reason":"routes_reload_rejected"/, from, 'the rejection to be logged'), 'and the reload rejected')
  t.same(await stillRouted(), [200, 200], 'the old map still routes; /readyz 200')
})

t.test('the route-map path becomes unreadable (a directory): old map stays live, logged, via watcher and SIGHUP', async (t) => {
  t.teardown(() => { rmSync(file, { recursive: true, force: true }) })
  let from = gw.output().length
  mkdirSync(file)
  gw.child.kill('SIGHUP') // the watcher may or may not report a directory; SIGHUP always reloads
  t.ok(await waitForLog(/cannot read the route map: it is a directory/, from, 'the unreadable file to be logged'), 'logged: it is a directory')
  t.ok(await waitForLog(/"trigger":"SIGHUP"/, from, 'the SIGHUP reload to be logged'), 'the SIGHUP reload was logged')
  t.same(await stillRouted(), [200, 200], 'the old map still routes; /readyz 200')
  t.equal(gw.child.exitCode, null, 'the process is alive')

  // and a good file again is picked up (the watcher works after all this)
  rmSync(file, { recursive: true, force: true })
  from = gw.output().length
  writeFileSync(file, map.replace('/a/*', '/b/*'))
  t.ok(await waitForLog(/"reason":"routes_reloaded"/, from, 'the new map'), 'a valid file is loaded again')
  t.equal((await fetch(`${gw.url}/b/x`)).status, 200, 'the new route serves')
  t.equal((await fetch(`${gw.url}/a/x`)).status, 404, 'the removed route is gone (F21)')
})
