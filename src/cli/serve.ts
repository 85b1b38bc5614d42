// `portcullis serve`: the production entry point, configured only by environment variables.
// `portcullis dev` (what `npm start` runs): the same gateway plus newcomer extras when REDIS_URL
// is unset: the in-memory store, a demo upstream on DEMO_UPSTREAM_PORT and hints on what to try.
import { Command } from 'commander'
import type { Config } from '../config/env.js'
import { RouteMapError } from '../config/route-types.js'

/** One line on stderr, then exit: 1 for a refusal, 2 for a usage error. */
function fail (message: string, exitCode = 1): never {
  process.stderr.write(`portcullis: ${message}\n`)
  process.exit(exitCode)
}

async function run (config: Readonly<Config>, dev: boolean): Promise<void> {
  // loaded here, not at the top, so the other CLI commands start fast
  const { handleSignals, startGateway } = await import('../server.js')
  const devMode = await import('../dev/dev-mode.js')
  const { startDemoUpstream } = await import('../dev/demo-upstream.js')
  let demo: { close(): void } | undefined
  const withDemo = dev && config.REDIS_URL === undefined && config.REDIS_SENTINELS === undefined && config.REDIS_CLUSTER_NODES === undefined
  const demoPort = withDemo ? demoUpstreamPort() : devMode.DEMO_UPSTREAM_DEFAULT_PORT
  if (withDemo) {
    try {
      demo = await startDemoUpstream(demoPort)
    } catch (err) {
      fail(`cannot start the demo upstream on 127.0.0.1:${demoPort} (${(err as Error).message}); set DEMO_UPSTREAM_PORT`)
    }
  }
  const routeMap = withDemo ? devMode.demoRouteMapOptions(demoPort) : undefined
  try {
    const gw = await startGateway(config, { onClose: () => { demo?.close() }, ...(routeMap !== undefined && { routeMap }) })
    handleSignals(gw, config)
    if (dev && gw.store.kind === 'memory') {
      await devMode.seedDemoAccounts(gw.store, config.BCRYPT_COST)
      process.stdout.write(devMode.devHints(gw.url, demoPort))
    }
  } catch (err) {
    demo?.close()
    if (err instanceof RouteMapError) fail(`invalid route map:\n${err.message}`)
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') fail(`port ${config.PORT} is in use; set PORT`)
    fail(e.message)
  }
}

/** DEMO_UPSTREAM_PORT (dev mode only, so not part of the validated Config), default 9001. */
function demoUpstreamPort (): number {
  const raw = process.env.DEMO_UPSTREAM_PORT
  if (raw === undefined || raw === '') return 9001 // devMode.DEMO_UPSTREAM_DEFAULT_PORT
  const port = Number(raw)
  if (!/^[0-9]+$/.test(raw) || port < 1 || port > 65535) fail(`invalid configuration: DEMO_UPSTREAM_PORT=${JSON.stringify(raw)} must be a port number`)
  return port
}

/** The config module (TypeBox) loads here, not at the top, so `--help` and the other commands start fast. */
async function configOrExit (): Promise<Readonly<Config>> {
  const { ConfigError, loadConfig } = await import('../config/env.js')
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
    .action(async () => { await run(await configOrExit(), false) })
}

export function devCommand (): Command {
  return new Command('dev')
    .description('start the gateway with newcomer defaults (memory store and demo upstream when REDIS_URL is unset)')
    .action(async () => { await run(await configOrExit(), true) })
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
