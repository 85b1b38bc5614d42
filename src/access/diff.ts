// The access diff between two route maps: per route and method, what changed and whom it lets in or
// keeps out. "Access" is who may send which method to which upstream at which path, so an entry
// WIDENS when some caller (anonymous, or a token with some scopes) can reach something it could not
// before: a new route or method, a path that matches more, `auth: none`/`optional` on a protected
// route, fewer or other scopes, or another upstream behind the same paths. It NARROWS in the mirror
// cases; one entry can do both. Pure: no I/O (the registry is read by the caller).
import type { AuthMode, HttpMethod, RateLimitPolicy, RouteTable } from '../config/route-types.js'
import { coveredBy } from './coverage.js'
import { accessEntrySteps, allows, byPathAndMethod, letsMoreIn, type AccessEntry, type AccessRule, type Caller } from './entries.js'
import type { Registry } from './registry.js'
import { Side } from './side.js'
import { drain, STRIDE, type Steps } from './steps.js'

export interface EntryView {
  route: string
  path: string
  auth: AuthMode
  scopes: string[]
  upstream: string
  /** Where requests go: the upstream's origin and base path. */
  target: string
}

export type EffectReason = 'new_paths' | 'removed_paths' | 'now_public' | 'now_protected' | 'scopes' | 'upstream'

/** One way an entry widens or narrows, against one entry of the other map on the same method. */
export interface AccessEffect {
  reason: EffectReason
  /** The other map's entry whose paths overlap; null: no entry there (paths new, or gone). */
  against: EntryView | null
  /** Who gains (widening) or loses (narrowing), in scope terms. */
  who: string
}

export type Access = 'unchanged' | 'narrows' | 'widens' | 'widens_and_narrows'

export interface DiffEntry {
  method: HttpMethod
  path: string
  change: 'added' | 'removed' | 'changed'
  /** For `changed`: which of path, auth, scopes, upstream, forward_token, rate_limit, body_limit differ. */
  changed: string[]
  before: EntryView | null
  after: EntryView | null
  access: Access
  scopes: { no_longer_required: string[], newly_required: string[] }
  widens: AccessEffect[]
  narrows: AccessEffect[]
  /** Only with a registry: the ids / names that gain or lose access to this route and method. */
  clients?: { gain: string[], lose: string[] }
  users?: { gain: string[], lose: string[] }
}

export interface AccessDiff {
  old_file: string
  new_file: string
  /** Whether clients and users were compared (a registry was given); otherwise scopes only. */
  registry: boolean
  access: 'unchanged' | 'narrows' | 'widens'
  widened: number
  narrowed: number
  entries: DiffEntry[]
}

/** CLI exit code: 0 unchanged, 1 narrows only, 3 widens anywhere (CI can ask for a second review). */
/** Exit codes of `routes diff` and `routes replay`: access unchanged, only narrowed, widened anywhere. */
export const EXIT_UNCHANGED = 0
export const EXIT_NARROWED = 1
export const EXIT_WIDENED = 3

export function diffExitCode (d: AccessDiff): 0 | 1 | 3 {
  return d.access === 'widens' ? EXIT_WIDENED : d.access === 'narrows' ? EXIT_NARROWED : EXIT_UNCHANGED
}

function view (e: AccessEntry): EntryView {
  return { route: e.route.id, path: e.path, auth: e.route.auth, scopes: [...e.route.scopes], upstream: e.route.upstream.name, target: e.target }
}

function holders (rule: AccessRule): string {
  if (rule.public) return 'anyone (no token needed)'
  return rule.scopes.length === 0 ? 'any valid token' : `tokens with ${rule.scopes.join(' ')}`
}

const missing = (need: readonly string[], have: readonly string[]): string[] => need.filter((s) => !have.includes(s))

/** Whether `caller` reaches `to` now but did not reach it through `from` (same target) before. */
function gains (caller: Caller, from: AccessEntry | null, to: AccessEntry): boolean {
  return allows(to.rule, caller) && !(from !== null && from.target === to.target && allows(from.rule, caller))
}

/**
 * The effect of `from` → `to` on the paths both match: someone passes `to` who did not pass `from`,
 * or `to` sends them to another upstream (`from` null: the paths were not served). Read with the
 * maps swapped (old entry as `to`, new as `from`) it is the narrowing. null: nobody gains.
 */
function effect (from: AccessEntry | null, to: AccessEntry, widening: boolean): AccessEffect | null {
  const against = from === null ? null : view(from)
  if (from === null) return { reason: widening ? 'new_paths' : 'removed_paths', against, who: holders(to.rule) }
  if (from.target !== to.target) {
    const there = `${to.route.upstream.name} (${to.target})`
    const here = `${from.route.upstream.name} (${from.target})`
    return { reason: 'upstream', against, who: widening ? `${holders(to.rule)}: now reach ${there} instead of ${here}` : `${holders(to.rule)}: no longer reach ${there} (now ${here})` }
  }
  if (!letsMoreIn(from.rule, to.rule)) return null
  if (to.rule.public) {
    const who = from.rule.scopes.length === 0 ? 'anonymous callers' : `anonymous callers and tokens without ${from.rule.scopes.join(' ')}`
    return { reason: widening ? 'now_public' : 'now_protected', against, who }
  }
  return { reason: 'scopes', against, who: `${holders(to.rule)} but without ${missing(from.rule.scopes, to.rule.scopes).join(' ')}` }
}

/** An effect and the two entries it compares (`from` null: paths not served there). */
interface Part { readonly effect: AccessEffect, readonly from: AccessEntry | null, readonly to: AccessEntry }

/**
 * Effects of `entry` against the other map's entries on its method that overlap its paths (the
 * loader keeps one map's entries on one method disjoint, so each overlap is a region of its own),
 * plus the paths none of them matches. `widening`: `entry` is in the new map.
 */
function parts (entry: AccessEntry, other: Side, widening: boolean): Part[] {
  const near = other.overlapping(entry)
  const out: Part[] = []
  for (const o of near) {
    const e = effect(o, entry, widening)
    if (e !== null) out.push({ effect: e, from: o, to: entry })
  }
  if (!coveredBy(entry.pattern, near.map((o) => o.pattern))) out.push({ effect: effect(null, entry, widening)!, from: null, to: entry })
  return out
}

function sameEntry (a: AccessEntry, b: AccessEntry): boolean {
  return a.target === b.target && a.rule.public === b.rule.public &&
    a.rule.scopes.length === b.rule.scopes.length && a.rule.scopes.every((s) => b.rule.scopes.includes(s))
}

function sameRateLimit (a: RateLimitPolicy | null, b: RateLimitPolicy | null): boolean {
  return a === null || b === null ? a === b : a.limit === b.limit && a.windowMs === b.windowMs && a.by === b.by && a.mode === b.mode
}

function changedFields (a: AccessEntry, b: AccessEntry): string[] {
  const r = a.route
  const s = b.route
  const out: string[] = []
  if (a.path !== b.path) out.push('path')
  if (r.auth !== s.auth) out.push('auth')
  if (r.scopes.length !== s.scopes.length || !r.scopes.every((x) => s.scopes.includes(x))) out.push('scopes')
  if (r.upstream.name !== s.upstream.name || a.target !== b.target) out.push('upstream')
  if (r.forwardToken !== s.forwardToken) out.push('forward_token')
  if (!sameRateLimit(r.rateLimit, s.rateLimit)) out.push('rate_limit')
  if (r.bodyLimit !== s.bodyLimit) out.push('body_limit')
  return out
}

type Pair = [AccessEntry | null, AccessEntry | null]

/**
 * Pairs each new entry with the old one it replaces: the same path, else an overlapping one (a path
 * change); then the old entries nobody replaces. Ordered by path, then method, of the entry shown.
 */
function * pair (olds: readonly AccessEntry[], news: readonly AccessEntry[], oldB: Side, newB: Side): Steps<Pair[]> {
  const taken = new Set<AccessEntry>()
  for (const [i, n] of news.entries()) {
    const o = oldB.get(n)
    if (o !== undefined) taken.add(o)
    if (i % STRIDE === 0) yield
  }
  const paired: Pair[] = []
  for (const n of news) { // in order, so an old entry goes to the first open new entry that overlaps it
    const same = oldB.get(n)
    if (same !== undefined) {
      paired.push([same, n])
      continue
    }
    yield * oldB.indexFor(n)
    const candidates = oldB.overlapping(n).filter((o) => !taken.has(o) && newB.get(o) === undefined)
    const o = candidates.find((c) => c.route.upstream.name === n.route.upstream.name) ?? candidates[0]
    if (o !== undefined) taken.add(o)
    paired.push([o ?? null, n])
  }
  const removed = olds.filter((o) => !taken.has(o))
  yield
  // merge the two sorted lists (news and olds are sorted by path, then method)
  const out: Pair[] = []
  let a = 0; let b = 0
  while (a < paired.length || b < removed.length) {
    const p = paired[a]; const o = removed[b]
    if (o === undefined || (p !== undefined && byPathAndMethod(p[1]!, o) < 0)) { out.push(p!); a++ } else { out.push([o, null]); b++ }
    if (out.length % STRIDE === 0) yield
  }
  return out
}

/** Who, of the registry's clients or users (by their scopes), is in some of `ps`. */
function who (ps: readonly Part[], holders: ReadonlyArray<{ id: string, scopes: readonly string[] }>): string[] {
  return holders.filter((h) => ps.some((p) => gains(h.scopes, p.from, p.to))).map((h) => h.id)
}

/** The access diff of two route maps; with a registry, also which clients and users gain or lose. */
export function accessDiff (oldTable: RouteTable, newTable: RouteTable, registry?: Registry): AccessDiff {
  return drain(accessDiffSteps(oldTable, newTable, registry))
}

/** What a diff reads of a route table: its routes (not its router), and its file for messages. */
export type DiffTable = Pick<RouteTable, 'routes' | 'file'>

/** accessDiff with checkpoints (src/access/steps.ts). */
export function * accessDiffSteps (oldTable: RouteTable, newTable: RouteTable, registry?: Registry): Steps<AccessDiff> {
  const entries: DiffEntry[] = []
  const { widened, narrowed } = yield * diffEntrySteps(oldTable, newTable, (e) => { entries.push(e) }, registry)
  return {
    old_file: oldTable.file,
    new_file: newTable.file,
    registry: registry !== undefined,
    access: widened > 0 ? 'widens' : narrowed > 0 ? 'narrows' : 'unchanged',
    widened,
    narrowed,
    entries
  }
}

/**
 * The entries of the diff, one by one in path and method order, to `each` (a reload logs them as they
 * come and keeps none: the diff of a 10,000-route map would hold ~150 MB); returns the counts.
 */
export function * diffEntrySteps (oldTable: DiffTable, newTable: DiffTable, each: (e: DiffEntry) => void,
  registry?: Registry): Steps<{ widened: number, narrowed: number }> {
  const olds = yield * accessEntrySteps(oldTable)
  const news = yield * accessEntrySteps(newTable)
  const oldB = yield * Side.of(olds)
  const newB = yield * Side.of(news)
  let widened = 0; let narrowed = 0
  for (const [o, n] of yield * pair(olds, news, oldB, newB)) {
    yield
    const changed = o !== null && n !== null ? changedFields(o, n) : []
    if (o !== null && n !== null && changed.length === 0) continue
    // an entry with the same path, rule and upstream serves the same paths to the same callers
    const same = o !== null && n !== null && o.path === n.path && sameEntry(o, n)
    if (n !== null && !same) yield * oldB.indexFor(n)
    if (o !== null && !same) yield * newB.indexFor(o)
    const wider = n === null || same ? [] : parts(n, oldB, true)
    const narrower = o === null || same ? [] : parts(o, newB, false)
    const widens = wider.map((p) => p.effect)
    const narrows = narrower.map((p) => p.effect)
    const entry: DiffEntry = {
      method: (n ?? o)!.method,
      path: (n ?? o)!.path,
      change: o === null ? 'added' : n === null ? 'removed' : 'changed',
      changed,
      before: o === null ? null : view(o),
      after: n === null ? null : view(n),
      access: widens.length > 0 ? (narrows.length > 0 ? 'widens_and_narrows' : 'widens') : narrows.length > 0 ? 'narrows' : 'unchanged',
      scopes: {
        no_longer_required: o === null ? [] : missing(o.rule.scopes, n?.rule.scopes ?? []),
        newly_required: n === null ? [] : missing(n.rule.scopes, o?.rule.scopes ?? [])
      },
      widens,
      narrows
    }
    if (registry !== undefined) {
      const clients = registry.clients.map((c) => ({ id: c.id, scopes: c.scopes }))
      const users = registry.users.map((u) => ({ id: u.name, scopes: u.scopes }))
      entry.clients = { gain: who(wider, clients), lose: who(narrower, clients) }
      entry.users = { gain: who(wider, users), lose: who(narrower, users) }
    }
    if (widens.length > 0) widened++
    if (narrows.length > 0) narrowed++
    each(entry)
  }
  return { widened, narrowed }
}
