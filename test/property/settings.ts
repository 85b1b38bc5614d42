// Run bounds shared by the property tests. `npm test` uses the small defaults (each property a
// second or two); `npm run fuzz` (scripts/fuzz.mjs) runs the same properties for a time budget:
//   FUZZ_PROPERTY_MS  per-property time budget; when set, runs are unbounded until it expires
//   FUZZ_RUNS         number of runs per property (default: the test's own, or unbounded under FUZZ_PROPERTY_MS)
//   FUZZ_SEED         replay a failing seed (fast-check prints it, with the counterexample path)
import type { Parameters } from 'fast-check'

export function runs<T> (defaultRuns: number): Parameters<T> {
  const budget = Number(process.env.FUZZ_PROPERTY_MS ?? 0)
  const explicit = Number(process.env.FUZZ_RUNS ?? 0)
  const seed = process.env.FUZZ_SEED
  return {
    numRuns: explicit > 0 ? explicit : budget > 0 ? 1_000_000_000 : defaultRuns,
    ...(budget > 0 && { interruptAfterTimeLimit: budget }),
    ...(seed !== undefined && seed !== '' && { seed: Number(seed) }),
    verbose: 1
  }
}

/** Printable ASCII without CR/LF: safe inside a header value or a raw request line. */
export const PRINTABLE = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i))
