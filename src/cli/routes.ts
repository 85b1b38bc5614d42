// `portcullis routes check [FILE]`: validates a route map the way the gateway loads it.
// Valid: exit 0 and one summary line. Invalid: exit 1 and every problem as `FILE:LINE:COLUMN message`
// on stderr, one per line (editors and CI annotate them); with --json both go to stdout as JSON.
import { Command } from 'commander'
import { RouteMapError, formatIssue } from '../config/route-types.js'
import { EXIT_FAILURE, action, cliConventions, output } from './common.js'
import { addReplayCommand } from './routes-replay.js'

export function routesCommand (): Command {
  const routes = new Command('routes').description('work with the route map (routes.yaml)')

  routes.command('check [file]')
    .description('validate a route map (default: $ROUTES_FILE, else ./routes.yaml); prints every problem as FILE:LINE:COLUMN message')
    .option('--json', 'print JSON')
    .action(action(async (file: string | undefined, opts: { json?: boolean }) => {
      const target = file ?? (process.env.ROUTES_FILE || 'routes.yaml')
      // the loader (TypeBox, two YAML parsers, the router) loads only when a map is checked
      const { loadRouteTable } = await import('../config/route-map-loader.js')
      try {
        const table = await loadRouteTable(target)
        output(opts.json, { ok: true, file: target, routes: table.routes.length, upstreams: table.upstreams.size },
          () => `${target}: OK, ${table.routes.length} routes, ${table.upstreams.size} upstreams`)
      } catch (err) {
        if (!(err instanceof RouteMapError)) throw err
        process.exitCode = EXIT_FAILURE
        if (opts.json === true) output(true, { ok: false, errors: err.issues }, () => [])
        else process.stderr.write(err.issues.map((i) => `${formatIssue(i)}\n`).join(''))
      }
    }))

  addReplayCommand(routes)

  return cliConventions(routes)
}
