// The text form of an access diff (`portcullis routes diff` without --json).
import type { AccessDiff, DiffEntry, EntryView } from './diff.js'

const LABEL: Record<DiffEntry['access'], string> = {
  widens: 'WIDENS', widens_and_narrows: 'WIDENS+NARROWS', narrows: 'NARROWS', unchanged: 'same access'
}

function rule (v: EntryView): string {
  const who = v.auth !== 'required' ? `auth: ${v.auth}` : v.scopes.length === 0 ? 'any valid token' : v.scopes.join(' ')
  return `${who} -> ${v.upstream}`
}

function what (e: DiffEntry): string {
  if (e.change === 'added') return `added (${rule(e.after!)})`
  if (e.change === 'removed') return `removed (was ${rule(e.before!)})`
  const moved = e.before!.path !== e.after!.path ? `, path was ${e.before!.path}` : ''
  return `changed ${e.changed.join(', ')}: ${rule(e.before!)}  =>  ${rule(e.after!)}${moved}`
}

const list = (ids: readonly string[]): string => ids.length === 0 ? '(none)' : ids.join(', ')

export function diffText (d: AccessDiff): string[] {
  const verdict = d.access === 'widens' ? 'access WIDENS' : d.access === 'narrows' ? 'access only narrows' : 'access unchanged'
  const source = d.registry ? 'clients and users from the store (REDIS_URL)' : 'scopes only (REDIS_URL not set: no clients or users compared)'
  const lines = [`${d.old_file} -> ${d.new_file}: ${verdict} (${d.widened} widen, ${d.narrowed} narrow); ${source}`]
  for (const e of d.entries) {
    lines.push(`${LABEL[e.access].padEnd(14)} ${e.method} ${e.path}  ${what(e)}`)
    for (const w of e.widens) lines.push(`${''.padEnd(14)}   gain: ${w.who}${w.against === null ? ' (paths not served before)' : ''}`)
    for (const n of e.narrows) lines.push(`${''.padEnd(14)}   lose: ${n.who}${n.against === null ? ' (paths no longer served)' : ''}`)
    if (e.clients !== undefined && e.users !== undefined && (e.widens.length > 0 || e.narrows.length > 0)) {
      if (e.widens.length > 0) lines.push(`${''.padEnd(14)}   clients gaining: ${list(e.clients.gain)}; users gaining: ${list(e.users.gain)}`)
      if (e.narrows.length > 0) lines.push(`${''.padEnd(14)}   clients losing: ${list(e.clients.lose)}; users losing: ${list(e.users.lose)}`)
    }
  }
  return lines
}
