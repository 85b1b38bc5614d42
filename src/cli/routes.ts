// `portcullis routes check [FILE] [--registry]` and `portcullis routes diff OLD NEW`.
// check: valid: exit 0 and one summary line. Invalid: exit 1 and every problem as `FILE:LINE:COLUMN
// message` on stderr, one per line (editors and CI annotate them); with --json both go to stdout as
// JSON. --registry also lints the map against the clients in the store (src/access/lint.ts): exit 1
// on errors, 0 with warnings only; without REDIS_URL it is a usage error (2).
// diff: the access diff (src/access/diff.ts): exit 0 access unchanged, 1 only narrows, 3 widens
// anywhere; 2 when no diff could be made (usage, a map with errors, the store not answering), so a
// failure is never read as a verdict.
import { Command } from 'commander'
import { CliError, EXIT_FAILURE, EXIT_USAGE, action, cliConventions, output } from './common.js'
import { failingWith, hasRedisUrl, loadMaps, readRegistry } from './registry.js'
import { addReplayCommand } from './routes-replay.js'

interface CheckOpts { json?: boolean, registry?: boolean }

export function routesCommand (): Command {
  const routes = new Command('routes').description('work with the route map (routes.yaml)')

  routes.command('check [file]')
    .description('validate a route map (default: $ROUTES_FILE, else ./routes.yaml); prints every problem as FILE:LINE:COLUMN message')
    .option('--registry', 'also lint it against the clients in the store at REDIS_URL (unreachable routes, dead grants, public routes on protected upstreams)')
    .option('--json', 'print JSON')
    .action(action(async (file: string | undefined, opts: CheckOpts) => {
      const target = file ?? (process.env.ROUTES_FILE || 'routes.yaml')
      if (opts.registry === true && !hasRedisUrl()) {
        throw new CliError('--registry reads clients and users from the store: set REDIS_URL', EXIT_USAGE)
      }
      const table = (await loadMaps([target], opts.json))?.[0]
      if (table === undefined) return
      const summary = { ok: true, file: target, routes: table.routes.length, upstreams: table.upstreams.size }
      const line = `${target}: OK, ${table.routes.length} routes, ${table.upstreams.size} upstreams`
      if (opts.registry !== true) return output(opts.json, summary, () => line)
      const registry = await readRegistry()
      const { lintRegistry } = await import('../access/lint.js')
      const lint = lintRegistry(table, registry)
      if (lint.errors.length > 0) process.exitCode = EXIT_FAILURE
      output(opts.json, { ...summary, ok: lint.errors.length === 0, registry: { clients: registry.clients.length, users: registry.users.length }, lint }, () => [
        line,
        ...lint.errors.map((f) => `${target}: error: ${f.message}`),
        ...lint.warnings.map((f) => `${target}: warning: ${f.message}`),
        `${target}: registry of ${registry.clients.length} clients and ${registry.users.length} users: ${lint.errors.length} errors, ${lint.warnings.length} warnings`
      ])
    }))

  routes.command('diff')
    .description('what changes in who can reach what between two route maps; exit 0 unchanged, 1 only narrows, 3 widens, 2 no diff made')
    .argument('<old>', 'the route map now live')
    .argument('<new>', 'the route map to compare with it')
    .option('--json', 'print JSON')
    .action(action(async (oldFile: string, newFile: string, opts: { json?: boolean }) => {
      await failingWith(EXIT_USAGE, async () => {
        const tables = await loadMaps([oldFile, newFile], opts.json, EXIT_USAGE)
        if (tables === null) return
        const registry = hasRedisUrl() ? await readRegistry() : undefined
        const { accessDiff, diffExitCode } = await import('../access/diff.js')
        const { diffText } = await import('../access/diff-text.js')
        const diff = accessDiff(tables[0]!, tables[1]!, registry)
        output(opts.json, diff, () => diffText(diff))
        process.exitCode = diffExitCode(diff)
      })
    }))

  addReplayCommand(routes)

  return cliConventions(routes)
}
