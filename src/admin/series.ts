// Counters and histograms the hot path writes as plain numbers, exposed through prom-client's Registry.
//
// Why not prom-client's Counter and Histogram on the hot path: in prom-client 15 every inc() and
// observe() hashes its label object (a child from labels() too: it calls back with the labels), which
// cost more than half of the metrics' 13 % throughput toll in `npm run bench` (bench/README.md). Here a
// series is found once per label set (the caller keeps it), and a request adds to numbers in it. The
// Registry asks get() at scrape time, as it does its own metrics, so prom-client still formats the
// exposition, merges the default process metrics and sets the content type.

/** One label set's histogram: counts per bucket (not yet cumulative), sum and count. */
export class HistogramCell {
  readonly counts: Float64Array
  sum = 0
  count = 0
  readonly #bounds: readonly number[]

  constructor (bounds: readonly number[]) {
    this.#bounds = bounds
    this.counts = new Float64Array(bounds.length)
  }

  observe (value: number): void {
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    if (i < bounds.length) this.counts[i]!++
    this.sum += value
    this.count++
  }
}

/** One label set's counter. */
export class CounterCell {
  value = 0
  inc (by = 1): void { this.value += by }
}

type Labels = Record<string, string>
interface MetricValue { value: number, labels: Labels, metricName?: string }
interface MetricObject { name: string, help: string, type: 'counter' | 'histogram', values: MetricValue[], aggregator: 'sum' }

/** What prom-client's Registry.registerMetric() needs of a metric: a name, get() and reset(). */
abstract class Series<Cell> {
  readonly #cells = new Map<string, { labels: Labels, cell: Cell }>()
  constructor (readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {}

  protected abstract make (): Cell

  /** The cell of one label set (values in labelNames order); keep it, and add to it per event. */
  cell (...values: string[]): Cell {
    const key = values.join('\u0000')
    let entry = this.#cells.get(key)
    if (entry === undefined) {
      const labels: Labels = {}
      this.labelNames.forEach((n, i) => { labels[n] = values[i] ?? '' })
      entry = { labels, cell: this.make() }
      this.#cells.set(key, entry)
    }
    return entry.cell
  }

  protected cells (): Iterable<{ labels: Labels, cell: Cell }> { return this.#cells.values() }

  reset (): void { this.#cells.clear() }
}

export class CounterSeries extends Series<CounterCell> {
  protected make (): CounterCell { return new CounterCell() }

  get (): MetricObject {
    const values: MetricValue[] = []
    for (const { labels, cell } of this.cells()) values.push({ value: cell.value, labels })
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' }
  }
}

export class HistogramSeries extends Series<HistogramCell> {
  constructor (name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[]) {
    super(name, help, labelNames)
  }

  protected make (): HistogramCell { return new HistogramCell(this.buckets) }

  /** The exposition of a histogram: cumulative `_bucket` lines up to le="+Inf", then `_sum` and `_count`. */
  get (): MetricObject {
    const values: MetricValue[] = []
    for (const { labels, cell } of this.cells()) {
      let cumulative = 0
      this.buckets.forEach((le, i) => {
        cumulative += cell.counts[i]!
        values.push({ value: cumulative, labels: { ...labels, le: String(le) }, metricName: `${this.name}_bucket` })
      })
      values.push({ value: cell.count, labels: { ...labels, le: '+Inf' }, metricName: `${this.name}_bucket` })
      values.push({ value: cell.sum, labels, metricName: `${this.name}_sum` })
      values.push({ value: cell.count, labels, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' }
  }
}
