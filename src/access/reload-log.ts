// Every hot reload logs its access diff (src/access/diff.ts): one line per entry that widens (warn)
// or only narrows (info). In scope terms: a reload never waits on the store. The watcher lives in
// src/config (a lower layer), so server.ts hands this listener to RouteWatcher.onSwap.
import type { RouteTable } from '../config/route-types.js'
import { accessDiff, type AccessDiff, type DiffEntry } from './diff.js'

type LogFn = (obj: object, msg?: string) => void
export interface AccessLogger { info: LogFn, warn: LogFn }

/** One line per widened or narrowed entry: `warn` when it widens (also when it narrows too), else `info`. */
export function logAccessDiff (log: AccessLogger, diff: AccessDiff): void {
  for (const e of diff.entries) {
    if (e.widens.length === 0 && e.narrows.length === 0) continue
    const fields = {
      reason: e.widens.length > 0 ? 'routes_access_widened' : 'routes_access_narrowed',
      method: e.method,
      path: e.path,
      change: e.change,
      changed: e.changed,
      before: e.before === null ? null : { route: e.before.route, auth: e.before.auth, scopes: e.before.scopes, upstream: e.before.upstream },
      after: e.after === null ? null : { route: e.after.route, auth: e.after.auth, scopes: e.after.scopes, upstream: e.after.upstream },
      gain: e.widens.map((w) => w.who),
      lose: e.narrows.map((n) => n.who)
    }
    if (e.widens.length > 0) log.warn(fields, `route map reload WIDENS access to ${e.method} ${e.path}: ${summary(e)}`)
    else log.info(fields, `route map reload narrows access to ${e.method} ${e.path}: ${summary(e)}`)
  }
}

function summary (e: DiffEntry): string {
  const parts = [...e.widens.map((w) => `gain: ${w.who}`), ...e.narrows.map((n) => `lose: ${n.who}`)]
  return parts.join('; ')
}

/** The listener server.ts registers with RouteWatcher.onSwap. */
export function accessDiffOnSwap (log: AccessLogger): (next: RouteTable, previous: RouteTable) => void {
  return (next, previous) => { logAccessDiff(log, accessDiff(previous, next)) }
}
