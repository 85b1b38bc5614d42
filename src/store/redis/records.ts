// Atomic update of one user or client record in Redis: read, change in TypeScript, then write with
// the compare-and-set script (account-scripts.ts) only if nobody wrote the record in between;
// otherwise read again. Every attempt that loses the race lost it to a write that landed, so the
// writers as a whole always make progress; MAX_ATTEMPTS only bounds a pathological storm.
import { StoreUnavailableError, type RecordChange, type RevocationEvent, type UpdateOptions } from '../types.js'

export const MAX_ATTEMPTS = 50

export interface RecordIo {
  /** Reads the stored JSON (null: no such record). */
  read(): Promise<string | null>
  /** The updateRecord script: 1 written, 0 the record changed since `expected` was read. */
  write(expected: string, json: string, disabled: string, cutoff: string, disabledEvent: string, cutoffEvent: string): Promise<number>
}

export interface RecordEvents {
  disabled(disabled: boolean): RevocationEvent
  cutoff(before: number): RevocationEvent
}

/** The feed events of a user's or a client's record update. */
export function recordEvents (kind: 'user' | 'client', id: string): RecordEvents {
  return {
    disabled: (disabled) => ({ kind: `${kind}-disabled`, id, disabled }),
    cutoff: (before) => ({ kind: `${kind}-cutoff`, id, before })
  }
}

export async function updateRecord<R extends { disabled: boolean }> (
  io: RecordIo, events: RecordEvents, idOf: (r: R) => string, change: RecordChange<R>, opts: UpdateOptions
): Promise<R | null> {
  const cutoff = opts.revokeBefore
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const stored = await io.read()
    if (stored === null) return null
    const current = JSON.parse(stored) as R
    const next = change(structuredClone(current)) // may throw: nothing written
    if (idOf(next) !== idOf(current)) throw new TypeError('a record update must not change its id')
    const written = await io.write(stored, JSON.stringify(next), next.disabled ? '1' : '0',
      cutoff === undefined ? '' : String(cutoff),
      JSON.stringify(events.disabled(next.disabled)),
      cutoff === undefined ? '' : JSON.stringify(events.cutoff(cutoff)))
    if (written === 1) return next
  }
  throw new StoreUnavailableError(`record changed by other writers ${MAX_ATTEMPTS} times in a row: try again`)
}
