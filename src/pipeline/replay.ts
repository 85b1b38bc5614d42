// `routes replay`: decides the recorded requests of a decision log again under another route map,
// with the recorded method, canonical path, identity and scopes (no token is needed or kept). Only
// the route map's part of the pipeline is re-run, through the stages' own rules: the route table's
// matcher (match), readsToken/admitsAnonymous (authenticate) and scopeRefusal (authorize).
//
// What a record tells about the caller's credentials decides what can be re-decided:
// - a verified token (subject and scopes recorded): fully;
// - no token sent (token_missing, or allowed anonymously on `auth: optional`): fully;
// - a token refused (invalid, expired, malformed header, revoked): refused again on any route that
//   reads a token, allowed on an `auth: none` route (which reads none);
// - the token never read (refused by match, or allowed on `auth: none`): re-decided only where the
//   new map reads no token either; elsewhere not re-decidable (`token_not_read`);
// - any other refusal (rate_limited, store_unavailable, bad_path ...) depends on more than the map:
//   kept as recorded, not re-decidable.
import { Type, type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { HTTP_METHODS, type RouteTable } from '../config/route-types.js'
import { admitsAnonymous, readsToken } from './authenticate.js'
import { scopeRefusal } from './authorize.js'
import { ALLOWED, type DecisionRecord } from './decision-log.js'

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

/** One decision-log line as replay reads it (unknown extra members are ignored). */
export const DecisionRecordSchema = Type.Object({
  time: Type.String(),
  route: Nullable(Type.String()),
  method: Type.String({ minLength: 1 }),
  path: Nullable(Type.String()),
  subject: Nullable(Type.String()),
  client: Nullable(Type.String()),
  scopes: Nullable(Type.Array(Type.String())),
  auth: Nullable(Type.Union([Type.Literal('required'), Type.Literal('optional'), Type.Literal('none')])),
  decision: Type.Union([Type.Literal('allow'), Type.Literal('refuse')]),
  reason: Type.String({ minLength: 1 }),
  stage: Nullable(Type.String())
})

const checkRecord = Compile(DecisionRecordSchema)

/** The record on one line, or null when the line is not one. */
export function parseDecisionLine (line: string): DecisionRecord | null {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return null
  }
  return checkRecord.Check(value) ? value as DecisionRecord : null
}

/** Refusals of a verified or presented token that stay refused wherever a token is read. */
const TOKEN_REFUSALS = new Set(['token_invalid', 'token_expired', 'token_malformed_request', 'revoked'])
/** Refusals of the match stage: the credentials were never looked at. */
const MATCH_REFUSALS = new Set(['route_not_found', 'method_not_allowed'])

type Caller =
  | { kind: 'verified', scopes: readonly string[] }
  | { kind: 'anonymous' }
  | { kind: 'refused', reason: string }
  | { kind: 'unread' }
  | { kind: 'kept' }

function callerOf (r: DecisionRecord): Caller {
  if (r.decision === 'allow') {
    if (r.scopes !== null) return { kind: 'verified', scopes: r.scopes }
    return r.auth === 'optional' ? { kind: 'anonymous' } : { kind: 'unread' }
  }
  if (MATCH_REFUSALS.has(r.reason)) return { kind: 'unread' }
  if (r.reason === 'token_missing') return { kind: 'anonymous' }
  if (r.reason === 'scope_missing' && r.scopes !== null) return { kind: 'verified', scopes: r.scopes }
  if (TOKEN_REFUSALS.has(r.reason)) return { kind: 'refused', reason: r.reason }
  return { kind: 'kept' }
}

/** A new decision: `reason` is `allowed` or a refusal reason; `route` the new map's route id. */
export interface Redecision { decision: 'allow' | 'refuse', reason: string, route: string | null }

/** Why a record could not be decided again: the reason it was kept with, or `token_not_read`. */
export type Undecidable = { undecidable: string }

const METHODS: ReadonlySet<string> = new Set(HTTP_METHODS)

/** Decides one recorded request under `table`, the way the pipeline's first four stages would. */
export function redecide (table: RouteTable, r: DecisionRecord): Redecision | Undecidable {
  const caller = callerOf(r)
  if (caller.kind === 'kept' || r.path === null) return { undecidable: r.reason }
  const found = table.lookup(r.method, r.path)
  // a method the gateway never routes (CONNECT ...) is refused before any route is asked
  if (found.kind === 'not_found' || !METHODS.has(r.method)) return { decision: 'refuse', reason: 'route_not_found', route: null }
  if (found.kind === 'method_not_allowed') return { decision: 'refuse', reason: 'method_not_allowed', route: null }
  const route = found.route
  const refuse = (reason: string): Redecision => ({ decision: 'refuse', reason, route: route.id })
  if (!readsToken(route.auth)) return { decision: 'allow', reason: ALLOWED, route: route.id }
  switch (caller.kind) {
    case 'unread':
      return { undecidable: 'token_not_read' }
    case 'refused':
      return refuse(caller.reason)
    case 'anonymous': {
      if (!admitsAnonymous(route.auth)) return refuse('token_missing')
      const refusal = scopeRefusal(route, null)
      return refusal === null ? { decision: 'allow', reason: ALLOWED, route: route.id } : refuse(refusal)
    }
    case 'verified': {
      const refusal = scopeRefusal(route, caller.scopes)
      return refusal === null ? { decision: 'allow', reason: ALLOWED, route: route.id } : refuse(refusal)
    }
  }
}

/** Decisions that flip, counted per route, client and change. */
export interface FlipGroup {
  direction: 'widened' | 'narrowed'
  /** The new map's route when it matched, else the recorded one; null when neither matched. */
  route: string | null
  /** null: anonymous (or the token was refused or never read). */
  client: string | null
  /** Recorded reason → new reason. */
  from: string
  to: string
  count: number
}

export interface ReplaySummary {
  decisions: number
  unchanged: number
  widened: number
  narrowed: number
  /** Kept as recorded, by reason (`token_not_read`: the new map reads a token the old one never looked at). */
  notRedecidable: { total: number, byReason: Record<string, number> }
  flips: FlipGroup[]
}

/** Accumulates records one at a time (a log may be far larger than memory). */
export class Replay {
  readonly #table: RouteTable
  readonly #groups = new Map<string, FlipGroup>()
  readonly #kept = new Map<string, number>()
  #decisions = 0
  #unchanged = 0

  constructor (table: RouteTable) {
    this.#table = table
  }

  add (r: DecisionRecord): void {
    this.#decisions++
    const now = redecide(this.#table, r)
    if ('undecidable' in now) {
      this.#kept.set(now.undecidable, (this.#kept.get(now.undecidable) ?? 0) + 1)
      return
    }
    if (now.decision === r.decision) {
      this.#unchanged++
      return
    }
    const group: Omit<FlipGroup, 'count'> = {
      direction: now.decision === 'allow' ? 'widened' : 'narrowed',
      route: now.route ?? r.route,
      client: r.client,
      from: r.reason,
      to: now.reason
    }
    const key = JSON.stringify(group)
    const g = this.#groups.get(key)
    if (g === undefined) this.#groups.set(key, { ...group, count: 1 })
    else g.count++
  }

  summary (): ReplaySummary {
    const flips = [...this.#groups.values()].sort((a, b) =>
      (a.direction === b.direction ? 0 : a.direction === 'widened' ? -1 : 1) || b.count - a.count ||
      String(a.route).localeCompare(String(b.route)) || String(a.client).localeCompare(String(b.client)))
    const count = (d: FlipGroup['direction']): number => flips.filter((f) => f.direction === d).reduce((n, f) => n + f.count, 0)
    const byReason = Object.fromEntries([...this.#kept].sort(([a], [b]) => a.localeCompare(b)))
    return {
      decisions: this.#decisions,
      unchanged: this.#unchanged,
      widened: count('widened'),
      narrowed: count('narrowed'),
      notRedecidable: { total: [...this.#kept.values()].reduce((n, c) => n + c, 0), byReason },
      flips
    }
  }
}
