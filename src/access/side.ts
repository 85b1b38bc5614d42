// One side of an access diff (src/access/diff.ts): a route map's entries found by method and path,
// and by overlap. Built and indexed with checkpoints (src/access/steps.ts).
import { OverlapIndex } from '../config/route-overlap.js'
import type { AccessEntry } from './entries.js'
import { drain, STRIDE, type Steps } from './steps.js'

/**
 * One map's entries, found by method and path, and by overlap: per method, the loader's trie of
 * patterns (src/config/route-overlap.ts), so a 10,000-route map is not compared pairwise on reload.
 */
export class Side {
  readonly #byKey = new Map<string, AccessEntry>()
  readonly #byMethod = new Map<string, AccessEntry[]>()
  /** Built on first use: an unchanged map never needs one. */
  readonly #indexes = new Map<string, OverlapIndex>()
  static * of (entries: readonly AccessEntry[]): Steps<Side> {
    const side = new Side()
    for (const [i, e] of entries.entries()) {
      side.#byKey.set(`${e.method} ${e.path}`, e)
      const list = side.#byMethod.get(e.method)
      if (list === undefined) side.#byMethod.set(e.method, [e])
      else list.push(e)
      if (i % STRIDE === 0) yield
    }
    return side
  }

  /** Builds the index of e's method now, with checkpoints (overlapping() needs it). */
  * indexFor (e: AccessEntry): Steps<void> {
    const entries = this.#byMethod.get(e.method)
    if (entries === undefined || this.#indexes.has(e.method)) return
    const index = new OverlapIndex()
    for (const [i, x] of entries.entries()) {
      index.add(x.pattern, i)
      if (i % STRIDE === 0) yield
    }
    this.#indexes.set(e.method, index)
  }

  /** The entry on e's method with e's path. */
  get (e: AccessEntry): AccessEntry | undefined {
    return this.#byKey.get(`${e.method} ${e.path}`)
  }

  /** The entries on e's method whose paths overlap e's. */
  overlapping (e: AccessEntry): AccessEntry[] {
    const entries = this.#byMethod.get(e.method)
    if (entries === undefined) return []
    drain(this.indexFor(e)) // at once, unless a caller built it in slices already
    const index = this.#indexes.get(e.method)!
    return index.find(e.pattern).map((i) => entries[i]!)
  }
}
