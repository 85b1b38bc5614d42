// Small statistics helpers: medians, percentiles, formatting.
export function median (xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const m = v.length >> 1
  return v.length % 2 === 1 ? v[m] as number : ((v[m - 1] as number) + (v[m] as number)) / 2
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile (xs: number[], p: number): number {
  const v = [...xs].sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const rank = Math.min(v.length, Math.max(1, Math.ceil((p / 100) * v.length)))
  return v[rank - 1] as number
}

export function fmtMs (us: number): string {
  if (!Number.isFinite(us)) return 'n/a'
  const ms = us / 1000
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 100 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(0)} ms`
}

export function fmtRatio (x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : 'n/a'
}

export function fmtInt (x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a'
}

/** A markdown table. */
export function table (head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |'
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n')
}
