// `portcullis routes replay NEW --log FILE [--log FILE.1 ...] [--json]`: every request a decision log
// (DECISION_LOG) recorded, decided again under the route map NEW (src/pipeline/replay.ts); prints
// the decisions that would flip, grouped by route and client, with counts.
//
// Exit codes, as for `routes diff`: 0 nothing flips, 1 only allowed → refused (access narrows),
// 3 any refused → allowed (access widens), 2 usage errors (missing --log, unreadable log, invalid
// map: the loader's FILE:LINE:COLUMN lines on stderr). Malformed log lines are counted, never fatal.
import { createReadStream } from 'node:fs'
import { access, constants } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import { RouteMapError, formatIssue, type RouteTable } from '../config/route-types.js'
import type { ReplaySummary } from '../pipeline/replay.js'
import { EXIT_NARROWED, EXIT_UNCHANGED, EXIT_WIDENED } from '../access/diff.js'
import { CliError, EXIT_USAGE, action, output } from './common.js'


/** Malformed lines named in the report (all are counted). */
const MALFORMED_SHOWN = 10

export interface ReplayReport extends ReplaySummary {
  map: string
  logs: string[]
  malformed: { total: number, lines: string[] }
}

/** Reads every log (in the order given) and replays it against `table`. */
export async function replayLogs (table: RouteTable, logs: readonly string[]): Promise<ReplayReport> {
  const { Replay, parseDecisionLine } = await import('../pipeline/replay.js')
  const replay = new Replay(table)
  const malformed = { total: 0, lines: [] as string[] }
  for (const file of logs) {
    const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })
    let n = 0
    try {
      for await (const line of lines) {
        n++
        if (line.trim() === '') continue
        const record = parseDecisionLine(line)
        if (record !== null) {
          replay.add(record)
          continue
        }
        malformed.total++
        if (malformed.lines.length < MALFORMED_SHOWN) malformed.lines.push(`${file}:${n}`)
      }
    } catch (err) {
      throw new CliError(`cannot read the decision log ${file}: ${(err as Error).message}`, EXIT_USAGE)
    }
  }
  return { map: table.file, logs: [...logs], ...replay.summary(), malformed }
}

export function replayExitCode (r: ReplaySummary): number {
  if (r.widened > 0) return EXIT_WIDENED
  return r.narrowed > 0 ? EXIT_NARROWED : EXIT_UNCHANGED
}

export function replayText (r: ReplayReport): string[] {
  const out = [`${r.decisions} decisions from ${r.logs.join(', ')} replayed against ${r.map}: ` +
    `${r.widened} would be allowed (were refused), ${r.narrowed} would be refused (were allowed), ${r.unchanged} unchanged`]
  for (const direction of ['widened', 'narrowed'] as const) {
    const flips = r.flips.filter((f) => f.direction === direction)
    if (flips.length === 0) continue
    out.push(direction === 'widened' ? 'WIDENED (refused → allowed):' : 'narrowed (allowed → refused):')
    for (const f of flips) {
      out.push(`  ${String(f.count).padStart(6)}  ${f.route ?? '(no route)'}  client ${f.client ?? '(none)'}  ${f.from} → ${f.to}`)
    }
  }
  const kept = Object.entries(r.notRedecidable.byReason)
  if (kept.length > 0) {
    out.push(`not re-decidable, kept as recorded: ${r.notRedecidable.total} (${kept.map(([k, n]) => `${k} ${n}`).join(', ')})`)
  }
  if (r.malformed.total > 0) {
    out.push(`malformed lines skipped: ${r.malformed.total} (${r.malformed.lines.join(', ')}${r.malformed.total > r.malformed.lines.length ? ', …' : ''})`)
  }
  return out
}

function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/** Adds `replay` to `portcullis routes`. */
export function addReplayCommand (routes: Command): void {
  routes.command('replay <new>')
    .description('decide the requests of a decision log (DECISION_LOG) again under the route map NEW; ' +
      'exit 0 nothing flips, 1 only allowed → refused, 3 any refused → allowed')
    .requiredOption('--log <file>', 'a decision log to replay; repeat for rotated files, oldest first (--log FILE.1 --log FILE)', collect)
    .option('--json', 'print JSON')
    .action(action(async (file: string, opts: { log: string[], json?: boolean }) => {
      for (const log of opts.log) {
        try {
          await access(log, constants.R_OK)
        } catch (err) {
          throw new CliError(`cannot read the decision log ${log}: ${(err as Error).message}`, EXIT_USAGE)
        }
      }
      const { loadRouteTable } = await import('../config/route-map-loader.js')
      let table: RouteTable
      try {
        table = await loadRouteTable(file)
      } catch (err) {
        if (!(err instanceof RouteMapError)) throw new CliError(`cannot load the route map ${file}: ${(err as Error).message}`, EXIT_USAGE)
        process.stderr.write(err.issues.map((i) => `${formatIssue(i)}\n`).join(''))
        process.exitCode = EXIT_USAGE
        return
      }
      const report = await replayLogs(table, opts.log)
      output(opts.json, report, () => replayText(report))
      process.exitCode = replayExitCode(report)
    }))
}
