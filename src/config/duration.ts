// Durations in routes.yaml carry units: 250ms, 5s, 1m, 2h, 1d. Environment variables use whole seconds.
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
export const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d)$'
const RE = new RegExp(DURATION_PATTERN)

/** Milliseconds for a duration string, or null when it is not one. */
export function parseDuration (text: string): number | null {
  const m = RE.exec(text)
  if (m === null) return null
  const n = Number(text.slice(0, text.length - m[1]!.length))
  const ms = n * UNITS[m[1]!]!
  return Number.isSafeInteger(ms) && ms > 0 ? ms : null
}
