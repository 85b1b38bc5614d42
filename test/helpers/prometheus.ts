// Reads a Prometheus text exposition (what prom-client serves on /metrics) into samples, so tests
// check names, labels and values rather than matching text.
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export function parseExposition (text: string): Sample[] {
  const out: Sample[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = LINE.exec(line)
    if (m === null) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c))
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

/** The metric families declared by `# TYPE` lines: name → type. */
export function metricTypes (text: string): Map<string, string> {
  const types = new Map<string, string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!)
  return types
}

/** Samples of `name` whose labels include every one of `labels`. */
export function samples (all: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

/** The one value of `name` with `labels` (sum when several series match; undefined when none). */
export function value (all: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(all, name, labels)
  return found.length === 0 ? undefined : found.reduce((a, s) => a + s.value, 0)
}
