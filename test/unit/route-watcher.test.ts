// Hot reload: a valid edit (in place or by rename) swaps the table atomically; an invalid, deleted or
// unreadable file keeps the running table and logs every problem with its position.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { compileRouteMap, loadRouteTable } from '../../src/config/route-map-loader.js'
import { RouteWatcher } from '../../src/config/route-watcher.js'
import type { RouteTable } from '../../src/config/route-types.js'

/** A map whose only route is GET /v<n>/*. */
const version = (n: number): string =>
  `version: 1\nupstreams:\n  u: { url: http://127.0.0.1:9001 }\nroutes:\n  - { path: /v${n}/*, methods: [GET], upstream: u }\n`

interface Logged { level: string, obj: Record<string, unknown>, msg: string | undefined }

function setup (t: Test, opts: { start?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'))
  const file = join(dir, 'routes.yaml')
  writeFileSync(file, version(1))
  const logged: Logged[] = []
  const log = (level: string) => (obj: object, msg?: string) => { logged.push({ level, obj: obj as Record<string, unknown>, msg }) }
  const watcher = new RouteWatcher(file, compileRouteMap(version(1), file), { info: log('info'), warn: log('warn'), error: log('error') })
  const swaps: Array<{ next: RouteTable, previous: RouteTable, trigger: string }> = []
  watcher.onSwap((next, previous, trigger) => { swaps.push({ next, previous, trigger }) })
  t.teardown(async () => {
    await watcher.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return { dir, file, watcher, logged, swaps, ready: opts.start === false ? Promise.resolve() : watcher.start() }
}

/** Polls until `check` holds (a deadline, not a fixed sleep). */
async function until (check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const serves = (w: RouteWatcher, n: number): boolean => w.current().lookup('GET', `/v${n}/x`).kind === 'match'

t.test('an in-place write swaps the table', async (t) => {
  const { file, watcher, swaps, ready } = setup(t)
  await ready
  const before = watcher.current()
  writeFileSync(file, version(2))
  await until(() => serves(watcher, 2), 'the new route')
  t.equal(watcher.current().lookup('GET', '/v1/x').kind, 'not_found', 'the old route is gone')
  // listeners (the access diff) follow once requests waiting since the compile began were served
  await until(() => swaps.length > 0, 'the swap listener')
  t.equal(swaps.length, 1)
  t.equal(swaps[0]!.previous, before)
  t.equal(swaps[0]!.next, watcher.current())
  t.equal(swaps[0]!.trigger, 'file changed')
})

t.test('an atomic rename over the file (as editors save) swaps the table', async (t) => {
  const { dir, file, watcher, ready } = setup(t)
  await ready
  const tmp = join(dir, '.routes.yaml.tmp')
  writeFileSync(tmp, version(3))
  renameSync(tmp, file)
  await until(() => serves(watcher, 3), 'the renamed-in route')
  t.equal(watcher.current().lookup('GET', '/v1/x').kind, 'not_found')
})

t.test('an invalid edit keeps the old table and logs each problem with its position', async (t) => {
  const { file, watcher, logged, swaps, ready } = setup(t)
  await ready
  const before = watcher.current()
  writeFileSync(file, version(1).replace('methods: [GET]', 'methods: [GIT]') + '  - { path: /oauth, upstream: u }\n')
  await until(() => logged.some((l) => l.level === 'warn'), 'the rejection')
  t.equal(watcher.current(), before, 'the same table object stays live')
  t.ok(serves(watcher, 1), 'and still answers with the old routes')
  t.equal(swaps.length, 0)
  const errors = logged.filter((l) => l.level === 'error')
  t.same(errors.map((l) => l.msg), [
    `${file}:5:30 routes[0].methods[0]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS (uppercase), got "GIT"`,
    `${file}:6:13 routes[1].path: "/oauth" would shadow the gateway's own /oauth endpoints (reserved: /oauth, /.well-known, /healthz, /readyz)`
  ])
  t.match(errors[0]!.obj, { reason: 'routes_invalid', file, line: 5, column: 30 })
  t.match(logged.find((l) => l.level === 'warn')!.obj, { reason: 'routes_reload_rejected', problems: 2, trigger: 'file changed' })
})

t.test('a deleted file keeps the old table; a new file is picked up', async (t) => {
  const { file, watcher, logged, ready } = setup(t)
  await ready
  const before = watcher.current()
  unlinkSync(file)
  await until(() => logged.some((l) => l.msg?.includes('cannot read the route map: no such file') === true), 'the deletion to be logged')
  t.equal(watcher.current(), before)
  t.ok(serves(watcher, 1))
  writeFileSync(file, version(4))
  await until(() => serves(watcher, 4), 'the re-created file')
})

t.test('20 consecutive valid edits are each observed', async (t) => {
  const { file, watcher, swaps, ready } = setup(t)
  await ready
  for (let n = 10; n < 30; n++) {
    writeFileSync(file, version(n))
    // the table serves the new map before the swap listeners run (they come after the next poll, so
    // requests waiting since the compile began are served first): wait for both
    await until(() => serves(watcher, n) && swaps.at(-1)?.next.routes[0]!.path === `/v${n}/*`, `version ${n}`)
  }
  const observed = swaps.map((s) => s.next.routes[0]!.path)
  t.same(observed.filter((p, i) => p !== observed[i - 1]), Array.from({ length: 20 }, (_, i) => `/v${i + 10}/*`))
})

t.test('reload() (SIGHUP) without watching; listeners and their failures', async (t) => {
  const { file, watcher, logged, swaps } = setup(t, { start: false })
  const failing = watcher.onSwap(() => { throw new Error('listener bug') })
  writeFileSync(file, version(5))
  t.equal(await watcher.reload('SIGHUP'), true)
  t.ok(serves(watcher, 5))
  t.equal(swaps.at(-1)!.trigger, 'SIGHUP')
  t.ok(logged.some((l) => l.obj.reason === 'routes_swap_listener_failed'), 'a throwing listener is logged, not fatal')
  t.match(logged.find((l) => l.obj.reason === 'routes_reloaded')!.obj, { trigger: 'SIGHUP', routes: 1, upstreams: 1 })
  failing()
  writeFileSync(file, 'version: [')
  t.equal(await watcher.reload('SIGHUP'), false)
  t.ok(serves(watcher, 5))
  t.equal(logged.filter((l) => l.obj.reason === 'routes_swap_listener_failed').length, 1, 'an unsubscribed listener is not called')
})

t.test('concurrent reloads run in order; the last reads the newest file', async (t) => {
  const { file, watcher, swaps } = setup(t, { start: false })
  writeFileSync(file, version(6))
  const first = watcher.reload('a')
  writeFileSync(file, version(7))
  const second = watcher.reload('b')
  t.same(await Promise.all([first, second]), [true, true])
  t.ok(serves(watcher, 7))
  t.same(swaps.map((s) => s.trigger), ['a', 'b'])
})

t.test('stop() stops watching', async (t) => {
  const { file, watcher, ready } = setup(t)
  await ready
  await watcher.stop()
  writeFileSync(file, version(8))
  await new Promise((resolve) => setTimeout(resolve, 300)) // proving an absence needs a wait
  t.ok(serves(watcher, 1))
})

/**
 * A Kubernetes ConfigMap volume, built and updated the way the kubelet's atomic writer does it:
 * `..<timestamp>/routes.yaml`, `..data -> ..<timestamp>`, `routes.yaml -> ..data/routes.yaml`; an
 * update writes a new timestamped dir, points `..data_tmp` at it, renames `..data_tmp` over `..data`
 * (atomic), then removes the old dir. The file the gateway names never changes: only `..data` does.
 */
function configMapVolume (t: Test, first: string) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-configmap-'))
  let generation = 0
  const writeGeneration = (text: string): string => {
    const name = `..2026_11_29_21_00_0${generation++}.${process.pid}`
    mkdirSync(join(dir, name))
    writeFileSync(join(dir, name, 'routes.yaml'), text)
    return name
  }
  let current = writeGeneration(first)
  symlinkSync(current, join(dir, '..data'))
  symlinkSync(join('..data', 'routes.yaml'), join(dir, 'routes.yaml'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return {
    file: join(dir, 'routes.yaml'),
    /** `keepOld`: the old generation stays (a slow cleanup): only the `..data` rename shows the update. */
    update (text: string, opts: { keepOld?: boolean } = {}): void {
      const next = writeGeneration(text)
      symlinkSync(next, join(dir, '..data_tmp'))
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
      if (opts.keepOld !== true) rmSync(join(dir, current), { recursive: true, force: true })
      current = next
    }
  }
}

t.test('a Kubernetes ConfigMap update (..data symlink swap) swaps the table', async (t) => {
  const volume = configMapVolume(t, version(1))
  const log = () => {}
  const watcher = new RouteWatcher(volume.file, compileRouteMap(version(1), volume.file), { info: log, warn: log, error: log })
  t.teardown(() => watcher.stop())
  await watcher.start()
  volume.update(version(40))
  await until(() => serves(watcher, 40), 'the map of the first update', 20_000)
  for (let n = 41; n < 46; n++) {
    volume.update(version(n))
    await until(() => serves(watcher, n), `the map of update ${n}`, 20_000)
  }
  t.equal(watcher.current().lookup('GET', '/v40/x').kind, 'not_found', 'the old route is gone')
})

t.test('a ..data symlink swap is seen by itself, before (or without) the old generation going away', async (t) => {
  const volume = configMapVolume(t, version(1))
  const log = () => {}
  const watcher = new RouteWatcher(volume.file, compileRouteMap(version(1), volume.file), { info: log, warn: log, error: log })
  t.teardown(() => watcher.stop())
  await watcher.start()
  for (let n = 50; n < 53; n++) {
    volume.update(version(n), { keepOld: true })
    await until(() => serves(watcher, n), `the map of update ${n}`, 20_000)
  }
})

t.test('the load option applies on every reload (dev mode moves the demo upstream this way)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'routes.yaml')
  writeFileSync(file, version(1))
  const moved = { upstreamOrigin: (o: string) => o === 'http://127.0.0.1:9001' ? 'http://127.0.0.1:9555' : o }
  const log = () => {}
  const watcher = new RouteWatcher(file, compileRouteMap(version(1), file, moved), { info: log, warn: log, error: log },
    { load: (f) => loadRouteTable(f, moved) })
  t.equal(watcher.current().upstreams.get('u')?.origin, 'http://127.0.0.1:9555')
  writeFileSync(file, version(2))
  t.equal(await watcher.reload('SIGHUP'), true)
  t.ok(serves(watcher, 2))
  t.equal(watcher.current().upstreams.get('u')?.origin, 'http://127.0.0.1:9555', 'still moved after the reload')
})

t.test('a file event with the live text compiles nothing; SIGHUP always compiles', async (t) => {
  const { file, watcher, logged, swaps, ready } = setup(t)
  const outcomes: string[] = []
  watcher.onReload((o) => { outcomes.push(o) })
  await ready
  writeFileSync(file, version(2))
  await watcher.reload('SIGHUP') // as a deploy does: write the file, then SIGHUP
  t.equal(swaps.length, 1)
  // the file event of that write, or a later save of the same bytes
  writeFileSync(file, version(2))
  await until(() => logged.some((l) => l.obj.reason === 'routes_unchanged'), 'the unchanged line')
  await watcher.reload('file changed') // the same, called directly: nothing queued behind it
  t.equal(swaps.length, 1, 'no second compile or swap for the same text')
  t.same(outcomes, ['success'], 'and no reload outcome counted for it')
  t.equal(logged.filter((l) => l.obj.reason === 'routes_reloaded').length, 1)
  t.equal(typeof logged.find((l) => l.obj.reason === 'routes_reloaded')?.obj.ms, 'number', 'the reload line carries its duration')
  t.equal(await watcher.reload('SIGHUP'), true, 'SIGHUP with the same text compiles again (it re-reads ca: files)')
  t.equal(swaps.length, 2)
  writeFileSync(file, version(3))
  await until(() => serves(watcher, 3) && swaps.length === 3, 'a changed text reloads')
})
