// The deployment examples (issue 9): docker-compose.yml, deploy/kubernetes/ and .dockerignore parse,
// their route maps compile, upstreams have a healthcheck of their own, and every route map is
// mounted as a folder so hot reload sees editor renames and ConfigMap `..data` swaps.
// `docker-compose config -q` (in .ci/run) validates the compose file against the engine's schema.
import { readFileSync, statSync } from 'node:fs'
import { posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { compileRouteMap, loadRouteTable } from '../../src/config/route-map-loader.js'

const root = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url))
const read = (path: string): string => readFileSync(root(path), 'utf8')

interface Service {
  command?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  healthcheck?: { test: string[], disable?: boolean }
  depends_on?: Record<string, { condition: string }>
}

const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service> }

t.test('compose: each demo upstream has its own healthcheck, on its own port', async (t) => {
  const upstreams = Object.entries(compose.services).filter(([, s]) => s.command?.[0] === 'demo-upstream')
  t.ok(upstreams.length >= 2)
  for (const [name, s] of upstreams) {
    const port = s.command![s.command!.indexOf('--port') + 1]!
    t.ok(s.healthcheck, `${name} does not inherit the gateway image's /readyz probe`)
    t.match(s.healthcheck?.test.join(' ') ?? '', `127.0.0.1:${port}/`, `${name} probes its own port ${port}`)
    t.notMatch(s.healthcheck?.test.join(' ') ?? '', /readyz/)
    t.equal(compose.services.gateway!.depends_on?.[name]?.condition, 'service_healthy', `the gateway waits for ${name}`)
  }
})

t.test('compose: the route map is mounted as a folder, ROUTES_FILE inside it, and compiles', async (t) => {
  const gateway = compose.services.gateway!
  const file = gateway.environment!.ROUTES_FILE!
  const mount = gateway.volumes!.map((v) => v.split(':')).find(([, target]) => file.startsWith(`${target}/`))
  t.ok(mount, `a volume contains ROUTES_FILE ${file}`)
  const [source, target] = mount!
  t.ok(statSync(root(source!)).isDirectory(), `${source} is a folder, not a single file`)
  const local = root(posix.join(source!, posix.relative(target!, file)))
  const table = await loadRouteTable(local)
  t.ok(table.routes.length > 0)
  t.ok([...table.upstreams.values()].every((u) => /^http:\/\/(orders|catalog):/.test(u.origin)), 'upstreams by compose service name')
})

t.test('compose: README and the compose file show how to add users and clients', async (t) => {
  const readme = read('README.md')
  t.match(readme, /docker compose run --rm -T gateway users add/)
  t.match(read('docker-compose.yml'), /docker compose run --rm -T gateway users add/)
})

t.test('.dockerignore keeps installed, built and VCS files out of the build context', async (t) => {
  const lines = read('.dockerignore').split('\n').map((l) => l.trim())
  for (const entry of ['node_modules', 'dist', '.git', '.tap']) t.ok(lines.includes(entry), entry)
  t.notOk(lines.some((l) => l === 'src' || l === 'package-lock.json'), 'the sources and the lock file are sent')
})

t.test('kubernetes: the example parses, mounts its ConfigMap as a folder, and its route map compiles', async (t) => {
  const docs = parseAllDocuments(read('deploy/kubernetes/portcullis.yaml'))
  t.same(docs.flatMap((d) => d.errors.map((e) => e.message)), [], 'valid YAML')
  const objects = docs.map((d) => d.toJS() as { kind: string, data?: Record<string, string>, spec?: any })
  t.same(objects.map((o) => o.kind), ['ConfigMap', 'Deployment', 'Service'])
  const configMap = objects[0]!
  const pod = objects[1]!.spec.template.spec
  const container = pod.containers[0]
  const env = Object.fromEntries(container.env.map((e: { name: string, value?: string }) => [e.name, e.value]))
  const volume = pod.volumes.find((v: { configMap?: unknown }) => v.configMap !== undefined)
  const mount = container.volumeMounts.find((m: { name: string }) => m.name === volume.name)
  t.equal(mount.subPath, undefined, 'no subPath: a subPath mount never receives updates')
  t.equal(posix.dirname(env.ROUTES_FILE), mount.mountPath, 'ROUTES_FILE is in the mounted folder')
  const text = configMap.data![posix.basename(env.ROUTES_FILE)]
  t.type(text, 'string', 'the ConfigMap has the key ROUTES_FILE names')
  t.ok(compileRouteMap(text!, 'configmap:routes.yaml').routes.length > 0, 'the route map compiles')
  t.equal(env.NODE_ENV, 'production')
  t.same(container.env.find((e: { name: string }) => e.name === 'REDIS_URL').valueFrom.secretKeyRef.key, 'url', 'REDIS_URL from a Secret')
  t.same([container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path], ['/readyz', '/healthz'])
})
