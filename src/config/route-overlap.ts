// Route patterns as sets of paths: methods as bit masks, whether two patterns overlap, and the trie the
// loader and the table use to find every earlier overlapping route (path semantics: route-table.ts).
import type { PathSegment, RoutePattern } from './route-path.js'
import { HTTP_METHODS, type HttpMethod } from './route-types.js'

// --- methods as bit masks (bit i = HTTP_METHODS[i])

export function methodMask (methods: readonly HttpMethod[]): number {
  let mask = 0
  for (let i = 0; i < methods.length; i++) mask |= 1 << HTTP_METHODS.indexOf(methods[i]!)
  return mask
}

export function methodsOf (mask: number): HttpMethod[] {
  return HTTP_METHODS.filter((_, i) => (mask & (1 << i)) !== 0)
}

// --- overlap

function segmentsCompatible (a: PathSegment, b: PathSegment): boolean {
  return a.kind === 'param' || b.kind === 'param' || a.value === b.value
}

/** Whether some path is matched by both patterns (pairwise; the reserved-path check and tests use it). */
export function patternsOverlap (a: RoutePattern, b: RoutePattern): boolean {
  const n = a.segments.length
  const m = b.segments.length
  if (!a.wildcard && !b.wildcard && n !== m) return false
  if (a.wildcard && !b.wildcard && m < n) return false
  if (b.wildcard && !a.wildcard && n < m) return false
  for (let i = 0; i < Math.min(n, m); i++) {
    if (!segmentsCompatible(a.segments[i]!, b.segments[i]!)) return false
  }
  return true
}

/** Patterns with the same shape match the same paths: `/a/:x/*` and `/a/:y/*` are both `/a/:/*`. */
export function shapeOf (p: RoutePattern): string {
  const segs = p.segments
  let out = segs.length === 0 ? '/' : ''
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!
    out += s.kind === 'param' ? '/:' : `/${s.value}`
  }
  return p.wildcard ? `${out}/*` : out
}

// Fields are created on first use: a reload adds 10,000 routes, and most nodes hold one child and no route.
interface TrieNode {
  statics: Map<string, TrieNode> | null
  param: TrieNode | null
  /** Routes ending exactly here. */
  exact: number[] | null
  /** Routes ending here with `/*`. */
  wild: number[] | null
}

const newNode = (): TrieNode => ({ statics: null, param: null, exact: null, wild: null })

/**
 * Finds, for each route added in order, the earlier routes whose patterns overlap it (any method).
 * A trie keyed by segment: a static segment follows at most its own child and the param child, so
 * typical maps (static prefixes; a first-segment param is refused as reserved-path shadowing) cost
 * O(path length + overlaps found) per route; only a param facing many static siblings scans them.
 */
export class OverlapIndex {
  readonly #root = newNode()

  /** Adds a route; returns the indexes of earlier routes it overlaps, ascending. */
  add (pattern: RoutePattern, index: number): readonly number[] {
    const found: number[] = []
    this.#search(this.#root, pattern, 0, found)
    let node = this.#root
    for (let i = 0; i < pattern.segments.length; i++) {
      const seg = pattern.segments[i]!
      let next = seg.kind === 'param' ? node.param : node.statics?.get(seg.value)
      if (next == null) {
        next = newNode()
        if (seg.kind === 'param') node.param = next
        else (node.statics ??= new Map()).set(seg.value, next)
      }
      node = next
    }
    if (pattern.wildcard) (node.wild ??= []).push(index)
    else (node.exact ??= []).push(index)
    return ascending(found)
  }

  /** The indexes of the routes added so far whose patterns overlap `pattern`, ascending; adds nothing. */
  find (pattern: RoutePattern): readonly number[] {
    const found: number[] = []
    this.#search(this.#root, pattern, 0, found)
    return ascending(found)
  }

  #search (node: TrieNode, p: RoutePattern, i: number, found: number[]): void {
    append(found, node.wild) // an earlier `/*` here takes whatever follows
    if (i === p.segments.length) {
      if (p.wildcard) collectSubtree(node, found, false)
      else append(found, node.exact)
      return
    }
    const seg = p.segments[i]!
    if (seg.kind === 'static') {
      const child = node.statics?.get(seg.value)
      if (child !== undefined) this.#search(child, p, i + 1, found)
    } else {
      if (node.statics !== null) for (const child of node.statics.values()) this.#search(child, p, i + 1, found)
    }
    if (node.param !== null) this.#search(node.param, p, i + 1, found)
  }
}

function collectSubtree (node: TrieNode, found: number[], withWild: boolean): void {
  append(found, node.exact)
  if (withWild) append(found, node.wild)
  if (node.statics !== null) for (const child of node.statics.values()) collectSubtree(child, found, true)
  if (node.param !== null) collectSubtree(node.param, found, true)
}

// (plain loops: most lists here are empty, and a reload adds 10,000 routes)
function append (to: number[], from: readonly number[] | null): void {
  if (from !== null) for (let i = 0; i < from.length; i++) to.push(from[i]!)
}

const NONE: readonly number[] = Object.freeze([])

/** The list sorted; one shared empty list (most routes overlap nothing, and the lists are kept). */
function ascending (xs: number[]): readonly number[] {
  return xs.length === 0 ? NONE : xs.length === 1 ? xs : xs.sort((x, y) => x - y)
}
