// Access entries: a route table seen as who may call what. One entry per route and method: its path
// pattern, the rule a caller must meet (the authenticate and authorize stages, src/pipeline/) and
// the upstream it reaches. Pure: no I/O, used by the CLI, the admin endpoint and the reload log.
import { parseRoutePath, type RoutePattern } from '../config/route-path.js'
import { HTTP_METHODS, type AuthMode, type CompiledRoute, type HttpMethod, type RouteTable } from '../config/route-types.js'
import { drain, STRIDE, type Steps } from './steps.js'

/**
 * What a caller needs. `public`: no token needed (auth: none, or auth: optional, which takes
 * anonymous requests; the loader refuses scopes on both). Otherwise a valid token carrying every
 * one of `scopes` (RFC 6750 §3.1; empty: any valid token).
 */
export interface AccessRule {
  readonly public: boolean
  readonly scopes: readonly string[]
}

export interface AccessEntry {
  readonly method: HttpMethod
  readonly path: string
  readonly pattern: RoutePattern
  readonly route: CompiledRoute
  readonly rule: AccessRule
  /** Where the request goes: the upstream's origin and base path (its name is only a label). */
  readonly target: string
}

/** A caller: null is an anonymous request; otherwise the scopes its token carries. */
export type Caller = readonly string[] | null

export function ruleOf (auth: AuthMode, scopes: readonly string[]): AccessRule {
  return { public: auth !== 'required', scopes: auth === 'required' ? scopes : [] }
}

/** Whether `caller` passes `rule` (exact scope match, all required, as the authorize stage). */
export function allows (rule: AccessRule, caller: Caller): boolean {
  if (rule.public) return true
  return caller !== null && rule.scopes.every((s) => caller.includes(s))
}

/**
 * Whether some caller passes `after` but not `before`: the change lets someone in. A caller with
 * exactly after's scopes passes `after`; it passes `before` only when before's scopes are among them.
 */
export function letsMoreIn (before: AccessRule, after: AccessRule): boolean {
  if (before.public) return false
  if (after.public) return true
  return !before.scopes.every((s) => after.scopes.includes(s))
}

const patterns = new WeakMap<CompiledRoute, RoutePattern>()

function patternOf (route: CompiledRoute): RoutePattern {
  let p = patterns.get(route)
  if (p === undefined) {
    const parsed = parseRoutePath(route.path)
    // a compiled route's path was parsed by the loader: this cannot fail
    if (typeof parsed === 'string') throw new TypeError(`route ${route.id}: path ${parsed}`)
    p = parsed
    patterns.set(route, p)
  }
  return p
}

export function targetOf (route: CompiledRoute): string {
  return route.upstream.origin + route.upstream.basePath
}

/** Every route and method of the table, ordered by path, then method (HTTP_METHODS order). */
export function accessEntries (table: RouteTable): AccessEntry[] {
  return drain(accessEntrySteps(table))
}

/** accessEntries with checkpoints (src/access/steps.ts). */
export function * accessEntrySteps (table: Pick<RouteTable, 'routes'>): Steps<AccessEntry[]> {
  // routes sorted by path (fewer than entries); routes sharing a path have their methods merged
  const routes = [...table.routes].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  yield
  const out: AccessEntry[] = []
  for (let i = 0; i < routes.length;) {
    const from = out.length
    const first = i
    const path = routes[i]!.path
    for (; i < routes.length && routes[i]!.path === path; i++) {
      const route = routes[i]!
      const pattern = patternOf(route)
      const rule = ruleOf(route.auth, route.scopes)
      const target = targetOf(route)
      for (const method of route.methods) out.push({ method, path, pattern, route, rule, target })
      if (i % STRIDE === 0) yield
    }
    // one route's methods come in HTTP_METHODS order from the loader; several routes on one path interleave
    if (i - first > 1 || !inMethodOrder(out, from)) out.splice(from, out.length - from, ...out.slice(from).sort(byPathAndMethod))
  }
  return out
}

function inMethodOrder (entries: readonly AccessEntry[], from: number): boolean {
  for (let i = from + 1; i < entries.length; i++) {
    if (HTTP_METHODS.indexOf(entries[i - 1]!.method) > HTTP_METHODS.indexOf(entries[i]!.method)) return false
  }
  return true
}

export function byPathAndMethod (a: { path: string, method: HttpMethod }, b: { path: string, method: HttpMethod }): number {
  if (a.path !== b.path) return a.path < b.path ? -1 : 1
  return HTTP_METHODS.indexOf(a.method) - HTTP_METHODS.indexOf(b.method)
}
