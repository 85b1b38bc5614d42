// `portcullis access (--client ID | --user NAME | --scopes "a b") [--json]`: every route and method
// of the route map at ROUTES_FILE reachable with those scopes (a client's or user's from the store
// at REDIS_URL), public ones marked. The same JSON as GET /admin/access (src/admin/access.ts).
// Exit 0; 1 unknown client or user, a map with errors, the store not answering; 2 usage.
import { Command } from 'commander'
import type { AccessSelector } from '../access/reach.js'
import { checkClientId, normalizeUserName, parseScopes } from '../oauth/accounts.js'
import { CliError, EXIT_USAGE, action, cliConventions, output, withStore } from './common.js'
import { loadMaps } from './registry.js'

interface AccessOpts { client?: string, user?: string, scopes?: string, json?: boolean }

/** The one selector given, checked; a usage error (2) unless exactly one. */
function selectorOf (opts: AccessOpts): AccessSelector {
  const given = [opts.client, opts.user, opts.scopes].filter((v) => v !== undefined).length
  if (given !== 1) throw new CliError('give exactly one of --client ID, --user NAME or --scopes "a b"', EXIT_USAGE)
  if (opts.client !== undefined) return { client: checkClientId(opts.client) }
  if (opts.user !== undefined) return { user: normalizeUserName(opts.user) }
  return { scopes: parseScopes(opts.scopes!) }
}

export function accessCommand (): Command {
  const access = new Command('access')
    .description('every route and method of the route map ($ROUTES_FILE, else ./routes.yaml) reachable by a client, a user or a set of scopes')
    .option('--client <id>', 'a client in the store at REDIS_URL: its scopes')
    .option('--user <name>', 'a user in the store at REDIS_URL: its scopes')
    .option('--scopes <scopes>', 'space-separated scopes a token carries ("" for none)')
    .option('--json', 'print JSON (the same as GET /admin/access)')
    .action(action(async (opts: AccessOpts) => {
      const selector = selectorOf(opts)
      const table = (await loadMaps([process.env.ROUTES_FILE || 'routes.yaml'], opts.json))?.[0]
      if (table === undefined) return
      const holder = 'scopes' in selector
        ? { scopes: selector.scopes, disabled: false }
        : await withStore(async (store) => {
          const record = 'client' in selector ? await store.getClient(selector.client) : await store.getUser(selector.user)
          if (record === null) throw new CliError('client' in selector ? `no client ${JSON.stringify(selector.client)}` : `no user ${JSON.stringify(selector.user)}`)
          return record
        })
      const { accessAnswer, accessText } = await import('../access/reach.js')
      const answer = accessAnswer(table, selector, holder)
      output(opts.json, answer, () => accessText(answer))
    }))
  return cliConventions(access)
}
