// A real pino logger whose lines a test can read, and a poll for "something happened" with a
// generous deadline (tests run on a loaded 2-core machine: never a fixed sleep as an assertion).
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'

export interface LogLine { msg?: string, reqId?: string, [k: string]: unknown }

export function captureLogs (level = 'info'): { logger: Logger, lines: LogLine[] } {
  const lines: LogLine[] = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as LogLine)
      done()
    }
  })
  return { logger: pino({ level }, sink), lines }
}

/** Resolves when `cond()` holds; rejects after `deadlineMs`. */
export async function until (cond: () => boolean, what: string, deadlineMs = 15_000): Promise<void> {
  const end = Date.now() + deadlineMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A store logger (StoreLogger) that keeps its error and warn objects for assertions. */
export function storeLogRecorder (): { errors: object[], warns: object[], info: () => void, warn: (o: object) => void, error: (o: object) => void } {
  const errors: object[] = []
  const warns: object[] = []
  return { errors, warns, info () {}, warn (o: object) { warns.push(o) }, error (o: object) { errors.push(o) } }
}
