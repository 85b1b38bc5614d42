// Test doubles for the rate-limit counters (test/unit/rate-limit-*.test.ts): an injected clock, a
// memory store whose counters can be switched off, held or failed per key (no Redis involved: the
// Redis counters pass the store contract against real servers), and a logger that records messages.
import { MemoryStore } from '../../src/store/memory/index.js'
import { StoreUnavailableError, type CounterDelta, type CounterResult, type Store } from '../../src/store/types.js'

/** A fixed clock the test moves by hand. */
export function clock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let now = start
  return { now: () => now, advance: (ms) => { now += ms } }
}

/** A store whose counters can be switched off (StoreUnavailableError) or held (a frozen Redis). */
export function switchableStore (now: () => number): {
  store: Store, calls: () => number, down: (yes: boolean) => void, hold: () => () => void, failing: Set<string>
} {
  const inner = new MemoryStore({ now })
  let isDown = false
  let calls = 0
  let held: Promise<void> | null = null
  const store = Object.create(inner) as Store
  store.incrementCounter = async (key: string, windowMs: number): Promise<CounterResult> => {
    calls++
    if (held !== null) await held
    if (isDown) throw new StoreUnavailableError('redis incrementCounter failed: connection closed')
    return await inner.incrementCounter(key, windowMs)
  }
  const failing = new Set<string>() // keys whose shard is down (a Cluster): only they fail
  store.addCounters = async (deltas: readonly CounterDelta[]): Promise<Array<CounterResult | null>> => {
    calls++
    if (held !== null) await held
    if (isDown || deltas.every((d) => failing.has(d.key))) throw new StoreUnavailableError('redis addCounters failed: connection closed')
    const results = await inner.addCounters(deltas.filter((d) => !failing.has(d.key)))
    return deltas.map((d) => failing.has(d.key) ? null : results.shift()!)
  }
  return {
    store,
    calls: () => calls,
    down: (yes) => { isDown = yes },
    failing,
    hold: () => {
      let release!: () => void
      held = new Promise((resolve) => { release = resolve })
      return () => { held = null; release() }
    }
  }
}

export function recordingLogger (): { warn: string[], info: string[], logger: { warn(o: object, m: string): void, info(o: object, m: string): void } } {
  const warn: string[] = []
  const info: string[] = []
  return { warn, info, logger: { warn: (_o, m) => { warn.push(m) }, info: (_o, m) => { info.push(m) } } }
}
