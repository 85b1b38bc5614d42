// Who can reach what: every route and method a token with given scopes passes (the authenticate and
// authorize stages' rule, src/access/entries.ts), public ones included and marked. One answer for
// `portcullis access` and GET /admin/access (src/admin/access.ts).
import type { AuthMode, HttpMethod, RouteTable } from '../config/route-types.js'
import { accessEntries, allows } from './entries.js'

export interface ReachableEntry {
  method: HttpMethod
  path: string
  /** The route id (`GET,HEAD /orders/*`). */
  route: string
  upstream: string
  auth: AuthMode
  /** The scopes the route requires. */
  scopes: string[]
  /** No token needed (auth: none or optional). */
  public: boolean
}

/** Every route and method a token carrying `scopes` passes, by path then method. */
export function reachable (table: RouteTable, scopes: readonly string[]): ReachableEntry[] {
  return accessEntries(table).filter((e) => allows(e.rule, scopes)).map((e) => ({
    method: e.method,
    path: e.path,
    route: e.route.id,
    upstream: e.route.upstream.name,
    auth: e.route.auth,
    scopes: [...e.route.scopes],
    public: e.rule.public
  }))
}

export type AccessSelector = { client: string } | { user: string } | { scopes: string[] }

/** The JSON of `portcullis access --json` and of GET /admin/access. */
export interface AccessAnswer {
  selector: AccessSelector
  /** The scopes the answer is computed for: the record's, or those given. */
  scopes: string[]
  /** The client or user is disabled: its tokens are refused until it is enabled again (then this is its access). */
  disabled: boolean
  routes_file: string
  reachable: ReachableEntry[]
}

export function accessAnswer (table: RouteTable, selector: AccessSelector,
  holder: { scopes: readonly string[], disabled: boolean }): AccessAnswer {
  return { selector, scopes: [...holder.scopes], disabled: holder.disabled, routes_file: table.file, reachable: reachable(table, holder.scopes) }
}

/** Text form: one line per route and method. */
export function accessText (a: AccessAnswer): string[] {
  const who = 'client' in a.selector
    ? `client ${a.selector.client}`
    : 'user' in a.selector ? `user ${a.selector.user}` : 'a token'
  const scopes = a.scopes.length === 0 ? '(no scopes)' : a.scopes.join(' ')
  const head = `${who} with ${scopes}${a.disabled ? ' (DISABLED: every token refused until enabled; once enabled:)' : ''} reaches ${a.reachable.length} route methods in ${a.routes_file}`
  const rows = a.reachable.map((r) => [r.method, r.path, r.public ? `public (auth: ${r.auth})` : r.scopes.length === 0 ? 'any valid token' : r.scopes.join(' '), `-> ${r.upstream}`])
  return [head, ...columns(rows)]
}

export function columns (rows: string[][]): string[] {
  const widths: number[] = []
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length) })
  return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd())
}
