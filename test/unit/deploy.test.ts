// The deployment examples (issue 9): docker-compose.yml, deploy/kubernetes/ and .dockerignore parse,
// their route maps compile, upstreams have a healthcheck of their own, and every route map is
// mounted as a folder so hot reload sees editor renames and ConfigMap `..data` swaps.
// `docker-compose config -q` (in .ci/run) validates the compose file against the engine's schema.
// High availability (issue 11 item 10): the compose profile `ha` (a Sentinel set, three gateways behind
// HAProxy health-checking /readyz, checked with `haproxy -c`), and the Kubernetes Deployment's probes,
// preStop delay and grace period, its PodDisruptionBudget and Service.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { compileRouteMap, loadRouteTable } from '../../src/config/route-map-loader.js'
import { ROOT_URL } from '../helpers/root.js'

const root = (path: string): string => fileURLToPath(new URL(path, ROOT_URL))
const read = (path: string): string => readFileSync(root(path), 'utf8')

interface Service {
  image?: string
  profiles?: string[]
  stop_grace_period?: string
  command?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  healthcheck?: { test: string[], disable?: boolean }
  depends_on?: Record<string, { condition: string }> | string[]
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
    t.equal((compose.services.gateway!.depends_on as Record<string, { condition: string }>)[name]?.condition, 'service_healthy', `the gateway waits for ${name}`)
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

t.test('compose profile ha: a Sentinel set of one master, one replica and three sentinels, quorum 2', async (t) => {
  const ha = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('ha'))
  const sentinels = ha.filter(([, s]) => s.command?.join(' ').includes('redis-sentinel'))
  t.equal(sentinels.length, 3, 'three sentinels')
  for (const [name, s] of sentinels) {
    const script = s.command!.join(' ')
    t.match(script, /sentinel monitor mymaster redis-master 6379 2'/, `${name} monitors redis-master with quorum 2`)
    t.match(script, /> \/tmp\/sentinel\.conf && exec redis-sentinel \/tmp\/sentinel\.conf/, `${name} writes a private config file`)
  }
  const master = compose.services['redis-master']!.command!
  const replica = compose.services['redis-replica']!.command!
  t.same(replica.slice(replica.indexOf('--replicaof') + 1, replica.indexOf('--replicaof') + 3), ['redis-master', '6379'], 'the replica follows the master')
  for (const command of [master, replica]) {
    t.equal(command[command.indexOf('--maxmemory-policy') + 1], 'noeviction', 'revocations are never evicted')
    t.equal(command[command.indexOf('--appendonly') + 1], 'yes')
  }
})

t.test('compose profile ha: three gateways in Sentinel mode behind HAProxy, which health-checks /readyz', async (t) => {
  const gateways = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('ha') && s.command?.[0] === 'serve')
  t.equal(gateways.length, 3, 'three gateway replicas')
  const sentinelNames = Object.keys(compose.services).filter((n) => compose.services[n]!.command?.join(' ').includes('redis-sentinel'))
  for (const [name, s] of gateways) {
    const env = s.environment!
    t.same(env.REDIS_SENTINELS!.split(',').map((a) => a.split(':')[0]).sort(), sentinelNames.sort(), `${name} knows every sentinel`)
    t.equal(env.REDIS_URL, undefined, `${name}: one Redis mode only`)
    t.equal(env.REDIS_SENTINEL_NAME, 'mymaster')
    t.ok(Number(env.REDIS_MIN_REPLICAS) >= 1, `${name} waits for a replica before acknowledging a revocation`)
    t.equal(env.SESSION_SECRET, compose.services.gateway!.environment!.SESSION_SECRET, 'one SESSION_SECRET for all')
    t.ok(s.volumes!.some((v) => v.startsWith('./deploy/compose:/etc/portcullis')), `${name} mounts the route-map folder`)
    t.ok(parseInt(s.stop_grace_period!, 10) > Number(env.SHUTDOWN_TIMEOUT), `${name}: the stop grace outlasts the drain`)
  }
  const lb = compose.services.lb!
  const mount = lb.volumes!.find((v) => v.startsWith('./deploy/haproxy:'))!
  t.ok(mount, 'the balancer mounts deploy/haproxy')
  t.equal(mount.split(':')[1], '/usr/local/etc/haproxy', 'where the haproxy image reads haproxy.cfg')
  const cfg = read('deploy/haproxy/haproxy.cfg')
  t.match(cfg, /option httpchk GET \/readyz\n\s+http-check expect status 200/, 'health check on /readyz, 200 only')
  const servers = [...cfg.matchAll(/^\s+server \S+ ([\w-]+):8080\b/gm)].map((m) => m[1])
  t.same(servers.sort(), gateways.map(([n]) => n).sort(), 'one server line per gateway')
  t.match(cfg, /default-server check /, 'every server is health-checked')
  const trusted = (lb as { networks?: Record<string, { ipv4_address?: string }> }).networks?.['ha-edge']?.ipv4_address
  t.ok(gateways.every(([, s]) => s.environment!.TRUST_PROXY === trusted), 'X-Forwarded-For trusted from the balancer only')
})

t.test('haproxy -c accepts deploy/haproxy/haproxy.cfg', async (t) => {
  // .ci/run installs haproxy; the gateway names resolve only inside compose (init-addr none)
  const out = execFileSync('haproxy', ['-c', '-f', root('deploy/haproxy/haproxy.cfg')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  t.match(out, /Configuration file is valid/)
})

type K8sObject = { kind: string, metadata: { name: string }, data?: Record<string, string>, spec?: any }
const manifests = readdirSync(root('deploy/kubernetes')).filter((f) => /\.ya?ml$/.test(f))
const k8s: K8sObject[] = manifests.flatMap((file) => {
  const docs = parseAllDocuments(read(`deploy/kubernetes/${file}`))
  return docs.map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`)
    return d.toJS() as K8sObject
  })
})
const ofKind = (kind: string): K8sObject => {
  const found = k8s.filter((o) => o.kind === kind)
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`)
  return found[0]!
}
const deployment = ofKind('Deployment')
const pod = deployment.spec.template.spec
const container = pod.containers[0]
const env = Object.fromEntries(container.env.map((e: { name: string, value?: string }) => [e.name, e.value]))

t.test('kubernetes: every manifest parses; a ConfigMap, a Deployment, a PodDisruptionBudget and a Service', async (t) => {
  t.ok(manifests.length > 0)
  t.same(k8s.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service'])
  t.ok(k8s.every((o) => typeof o.metadata?.name === 'string'), 'every object is named')
})

t.test('kubernetes: the route map is a ConfigMap mounted as a folder (hot reload), and compiles', async (t) => {
  const configMap = ofKind('ConfigMap')
  const volume = pod.volumes.find((v: { configMap?: { name: string } }) => v.configMap?.name === configMap.metadata.name)
  t.ok(volume, 'the ConfigMap is a volume of the pod')
  const mount = container.volumeMounts.find((m: { name: string }) => m.name === volume.name)
  t.equal(mount.subPath, undefined, 'no subPath: a subPath mount never receives updates')
  t.equal(posix.dirname(env.ROUTES_FILE), mount.mountPath, 'ROUTES_FILE is in the mounted folder')
  const text = configMap.data![posix.basename(env.ROUTES_FILE)]
  t.type(text, 'string', 'the ConfigMap has the key ROUTES_FILE names')
  t.ok(compileRouteMap(text!, 'configmap:routes.yaml').routes.length > 0, 'the route map compiles')
})

t.test('kubernetes: probes on /readyz and /healthz; the grace period outlasts preStop + SHUTDOWN_TIMEOUT', async (t) => {
  t.equal(env.NODE_ENV, 'production')
  t.same([container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path], ['/readyz', '/healthz'])
  const preStop: string[] = container.lifecycle.preStop.exec.command
  t.equal(preStop[0], 'sleep', 'preStop delays SIGTERM while the pod leaves the endpoints')
  const delay = Number(preStop[1])
  t.ok(delay > 0)
  const drain = Number(env.SHUTDOWN_TIMEOUT)
  t.ok(drain > 0, 'SHUTDOWN_TIMEOUT is set explicitly')
  t.ok(pod.terminationGracePeriodSeconds > delay + drain, `grace ${pod.terminationGracePeriodSeconds} s > preStop ${delay} s + drain ${drain} s`)
  t.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0, 'a rolling update keeps every ready pod until its successor is ready')
})

t.test('kubernetes: one Redis mode, credentials from Secrets', async (t) => {
  const modes = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].filter((n) => container.env.some((e: { name: string }) => e.name === n))
  t.equal(modes.length, 1, `exactly one Redis mode (${modes.join(', ')})`)
  for (const name of ['REDIS_PASSWORD', 'SESSION_SECRET']) {
    const entry = container.env.find((e: { name: string }) => e.name === name)
    t.ok(entry?.valueFrom?.secretKeyRef, `${name} from a Secret, never inline`)
    t.equal(entry?.value, undefined)
  }
})

t.test('kubernetes: the PodDisruptionBudget and the Service select the Deployment\'s pods', async (t) => {
  const labels = deployment.spec.template.metadata.labels
  const pdb = ofKind('PodDisruptionBudget')
  const service = ofKind('Service')
  t.same(pdb.spec.selector.matchLabels, labels)
  t.same(service.spec.selector, labels)
  t.same(deployment.spec.selector.matchLabels, labels)
  t.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < deployment.spec.replicas,
    `minAvailable ${pdb.spec.minAvailable} of ${deployment.spec.replicas}: a node drain evicts one at a time and is never blocked`)
  const ports = service.spec.ports.map((p: { targetPort: string }) => p.targetPort)
  t.same(ports, ['http'], 'only the proxy port; the admin listener is not in the Service')
})
