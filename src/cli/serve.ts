// `portcullis serve`: the production entry point, configured only by environment variables.
// `portcullis dev` (what `npm start` runs): the same gateway plus newcomer extras when REDIS_URL
// is unset: the in-memory store, a demo upstream on DEMO_UPSTREAM_PORT and hints on what to try.
import { Command } from 'commander'
import { ConfigError, loadConfig, type Config } from '../config/env.js'
import { RouteMapError } from '../config/route-types.js'
import type { Store } from '../store/types.js'

/** One line on stderr, then exit: 1 for a refusal, 2 for a usage error. */
function fail (message: string, exitCode = 1): never {
  process.stderr.write(`portcullis: ${message}\n`)
  process.exit(exitCode)
}

async function run (config: Readonly<Config>, dev: boolean): Promise<void> {
  // loaded here, not at the top, so the other CLI commands start fast
  const { handleSignals, startGateway } = await import('../server.js')
  const { startDemoUpstream } = await import('../dev/demo-upstream.js')
  let demo: { close(): void } | undefined
  const demoPort = Number(process.env.DEMO_UPSTREAM_PORT ?? 9001)
  if (dev && config.REDIS_URL === undefined) {
    const port = demoPort
    try {
      demo = await startDemoUpstream(port)
    } catch (err) {
      fail(`cannot start the demo upstream on 127.0.0.1:${port} (${(err as Error).message}); set DEMO_UPSTREAM_PORT`)
    }
  }
  try {
    const gw = await startGateway(config, { onClose: () => { demo?.close() } })
    handleSignals(gw, config)
    if (dev && gw.store.kind === 'memory') {
      await seedDemoAccounts(gw.store, config.BCRYPT_COST)
      printHints(gw.url, demoPort)
    }
  } catch (err) {
    demo?.close()
    if (err instanceof RouteMapError) fail(`invalid route map:\n${err.message}`)
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') fail(`port ${config.PORT} is in use; set PORT`)
    fail(e.message)
  }
}

const DEMO = { user: 'demo', password: 'demo-password', client: 'demo-app', scopes: 'orders:read orders:write' }

/** Dev mode only (memory store): a user and a public client so the hints below work as printed. */
async function seedDemoAccounts (store: Store, cost: number): Promise<void> {
  const { addClient, addUser } = await import('../oauth/accounts.js')
  await addUser(store, { name: DEMO.user, password: DEMO.password, scopes: DEMO.scopes, cost })
  await addClient(store, { id: DEMO.client, grants: 'password refresh_token', scopes: DEMO.scopes, public: true, cost })
}

function printHints (url: string, demoPort: number): void {
  process.stdout.write(`
Portcullis is running at ${url} (dev mode: in-memory store, demo upstream on 127.0.0.1:${demoPort};
the bundled routes.yaml sends /orders and /catalog to 127.0.0.1:9001)
Demo accounts: user "${DEMO.user}" / password "${DEMO.password}", public client "${DEMO.client}".

Try:
  curl -s ${url}/catalog/items                 # public route, forwarded to the demo upstream
  curl -si ${url}/orders/42                    # protected route: 401 without a token
  TOKEN=$(curl -s ${url}/oauth/token -d grant_type=password -d client_id=${DEMO.client} \\
          -d username=${DEMO.user} -d password=${DEMO.password} -d scope=orders:read | node -pe 'JSON.parse(fs.readFileSync(0)).access_token')
  curl -s ${url}/orders/42 -H "Authorization: Bearer $TOKEN"   # the upstream echoes the x-auth-* headers it got
  curl -s ${url}/.well-known/oauth-authorization-server

Stop with Ctrl-C. README.md covers the route map, the token flows and configuration.
`)
}

function configOrExit (): Readonly<Config> {
  try {
    return loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message)
    throw err
  }
}

export function serveCommand (): Command {
  return new Command('serve')
    .description('start the gateway, configured from environment variables')
    .action(async () => { await run(configOrExit(), false) })
}

export function devCommand (): Command {
  return new Command('dev')
    .description('start the gateway with newcomer defaults (memory store and demo upstream when REDIS_URL is unset)')
    .action(async () => { await run(configOrExit(), true) })
}

export function demoUpstreamCommand (): Command {
  return new Command('demo-upstream')
    .description('run the demo echo upstream (used by npm start and docker-compose.yml)')
    .option('--port <port>', 'port', '9001')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .action(async (opts: { port: string; host: string }) => {
      const port = Number(opts.port)
      if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a port number, got ${JSON.stringify(opts.port)}`, 2)
      const { startDemoUpstream } = await import('../dev/demo-upstream.js')
      const server = await startDemoUpstream(port, opts.host).catch((err: Error) => fail(err.message))
      process.stdout.write(`demo upstream listening on ${opts.host}:${port}\n`)
      const stop = (): void => { server.close(() => process.exit(0)) }
      process.once('SIGTERM', stop)
      process.once('SIGINT', stop)
    })
}
