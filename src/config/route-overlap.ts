// Route patterns as sets of paths: methods as bit masks, whether two patterns overlap, and the trie the
// loader and the table use to find every earlier overlapping route (path semantics: route-table.ts).
import type { PathSegment, RoutePattern } from './route-path.js'
import { HTTP_METHODS, type HttpMethod } from './route-types.js'

// --- methods as bit masks (bit i = HTTP_METHODS[i])

export function methodMask (methods: readonly HttpMethod[]): number {
  let mask = 0
  for (const m of methods) mask |= 1 << HTTP_METHODS.indexOf(m)
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
  return '/' + p.segments.map((s) => s.kind === 'param' ? ':' : s.value).join('/') + (p.wildcard ? '/*' : '')
}

interface TrieNode {
  readonly statics: Map<string, TrieNode>
  param: TrieNode | null
  /** Routes ending exactly here. */
  readonly exact: number[]
  /** Routes ending here with `/*`. */
  readonly wild: number[]
}

const newNode = (): TrieNode => ({ statics: new Map(), param: null, exact: [], wild: [] })

/**
 * Finds, for each route added in order, the earlier routes whose patterns overlap it (any method).
 * A trie keyed by segment: a static segment follows at most its own child and the param child, so
 * typical maps (static prefixes; a first-segment param is refused as reserved-path shadowing) cost
 * O(path length + overlaps found) per route; only a param facing many static siblings scans them.
 */
export class OverlapIndex {
  readonly #root = newNode()

  /** Adds a route; returns the indexes of earlier routes it overlaps, ascending. */
  add (pattern: RoutePattern, index: number): number[] {
    const found: number[] = []
    this.#search(this.#root, pattern, 0, found)
    let node = this.#root
    for (const seg of pattern.segments) {
      let next = seg.kind === 'param' ? node.param : node.statics.get(seg.value)
      if (next == null) {
        next = newNode()
        if (seg.kind === 'param') node.param = next
        else node.statics.set(seg.value, next)
      }
      node = next
    }
    ;(pattern.wildcard ? node.wild : node.exact).push(index)
    return found.sort((x, y) => x - y)
  }

  /** The indexes of the routes added so far whose patterns overlap `pattern`, ascending; adds nothing. */
  find (pattern: RoutePattern): number[] {
    const found: number[] = []
    this.#search(this.#root, pattern, 0, found)
    return found.sort((x, y) => x - y)
  }

  #search (node: TrieNode, p: RoutePattern, i: number, found: number[]): void {
    found.push(...node.wild) // an earlier `/*` here takes whatever follows
    if (i === p.segments.length) {
      if (p.wildcard) collectSubtree(node, found, false)
      else found.push(...node.exact)
      return
    }
    const seg = p.segments[i]!
    if (seg.kind === 'static') {
      const child = node.statics.get(seg.value)
      if (child !== undefined) this.#search(child, p, i + 1, found)
    } else {
      for (const child of node.statics.values()) this.#search(child, p, i + 1, found)
    }
    if (node.param !== null) this.#search(node.param, p, i + 1, found)
  }
}

function collectSubtree (node: TrieNode, found: number[], withWild: boolean): void {
  found.push(...node.exact)
  if (withWild) found.push(...node.wild)
  for (const child of node.statics.values()) collectSubtree(child, found, true)
  if (node.param !== null) collectSubtree(node.param, found, true)
}
