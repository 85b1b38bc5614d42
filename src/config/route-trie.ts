// The router of a compiled route table (issue 10: reload 10,000 routes in at most 300 ms): a trie keyed
// by whole path segments, with find-my-way's matching for the patterns a route map can hold.
//
// Until issue 10 the table used find-my-way routers. Inserting 10,000 routes there cost ~40 % of a
// reload's compile (a radix tree split character by character, one `new Function` prefix matcher
// per static node); this trie inserts a pattern with one lookup per segment. It answers exactly
// as find-my-way (caseSensitive, ignoreTrailingSlash and ignoreDuplicateSlashes off, maxParamLength
// 2^20) answered for those patterns, which test/property/route-map-loader.test.ts checks against
// find-my-way itself on random maps and paths:
// - the path is cut at `?`/`#` and percent-decoded by find-my-way's own code (url-sanitizer.js):
//   decodeURI, with the reserved characters (`%2F`, `%3F`, `%25`, ...) left encoded, so they never
//   split or end a segment; a parameter's value is then decoded by safeDecodeURIComponent;
// - the search is depth first, static segment before parameter before wildcard, backtracking on a
//   dead end; a parameter takes one segment, even an empty one (the table discards such matches),
//   unless it is longer than 2^20 characters; a wildcard takes the rest after its `/`, even nothing.
import sanitizer from 'find-my-way/lib/url-sanitizer.js'
import type { PathSegment } from './route-path.js'

const { safeDecodeURI, safeDecodeURIComponent } = sanitizer

/** find-my-way's maxParamLength as the table set it (its default, 100, would 404 a long segment). */
const MAX_PARAM_LENGTH = 1 << 20

/**
 * A node: the path so far is its segments. `exact`: the value for a path ending here; `wild`: for `/*`
 * here. Static children: one is kept in `oneKey`/`one` (most nodes have one: no Map for them), more
 * in `statics`.
 */
export interface TrieNode<T> {
  oneKey: string | null
  one: TrieNode<T> | null
  statics: Map<string, TrieNode<T>> | null
  param: TrieNode<T> | null
  exact: T | undefined
  wild: T | undefined
}

/** A hit: the value, the parameters' values in order, and the wildcard's rest ('' for an exact hit). */
export interface TrieHit<T> {
  readonly value: T
  readonly params: readonly string[]
  readonly rest: string
}

const NO_PARAMS: readonly string[] = Object.freeze([])
const copy = (params: string[]): readonly string[] => params.length === 0 ? NO_PARAMS : params.slice()
const newNode = <T>(): TrieNode<T> => ({ oneKey: null, one: null, statics: null, param: null, exact: undefined, wild: undefined })

export class SegmentTrie<T> {
  readonly #root: TrieNode<T> = newNode()

  /** The node of a pattern's segments, created as needed (the caller sets `exact` or `wild`). */
  node (segments: readonly PathSegment[]): TrieNode<T> {
    let node = this.#root
    for (const seg of segments) {
      if (seg.kind === 'param') {
        node = node.param ??= newNode()
      } else {
        node = staticChild(node, seg.value)
      }
    }
    return node
  }

  /** The value for an origin-form path ('/' first), or null; null also for a path decodeURI refuses. */
  find (path: string): TrieHit<T> | null {
    let decoded: { path: string, shouldDecodeParam: boolean }
    try {
      decoded = safeDecodeURI(path, false)
    } catch {
      return null
    }
    const p = decoded.path
    const root = this.#root
    // find-my-way's root node is the leading '/': the route `/` is found before anything else
    if (p.length === 1 && root.exact !== undefined) return { value: root.exact, params: NO_PARAMS, rest: '' }
    return search(root, p, 0, [], decoded.shouldDecodeParam)
  }
}

function staticChild<T> (node: TrieNode<T>, key: string): TrieNode<T> {
  if (node.statics !== null) {
    let next = node.statics.get(key)
    if (next === undefined) node.statics.set(key, next = newNode())
    return next
  }
  if (node.one === null) {
    node.oneKey = key
    return node.one = newNode()
  }
  if (node.oneKey === key) return node.one
  const next = newNode<T>()
  node.statics = new Map([[node.oneKey!, node.one], [key, next]])
  node.oneKey = null
  node.one = null
  return next
}

/** Depth first from `node`, whose segments end at `pos` (a '/' or the end of `p`). */
function search<T> (node: TrieNode<T>, p: string, pos: number, params: string[], decode: boolean): TrieHit<T> | null {
  if (pos === p.length) {
    return node.exact === undefined ? null : { value: node.exact, params: copy(params), rest: '' }
  }
  let end = p.indexOf('/', pos + 1)
  if (end === -1) end = p.length
  let child: TrieNode<T> | null | undefined = null
  if (node.statics !== null) child = node.statics.get(p.slice(pos + 1, end))
  else if (node.one !== null && end - pos - 1 === node.oneKey!.length && p.startsWith(node.oneKey!, pos + 1)) child = node.one
  if (child != null) {
    const hit = search(child, p, end, params, decode)
    if (hit !== null) return hit
  }
  if (node.param !== null) {
    let value = p.slice(pos + 1, end)
    if (decode) value = safeDecodeURIComponent(value)
    if (value.length <= MAX_PARAM_LENGTH) {
      params.push(value)
      const hit = search(node.param, p, end, params, decode)
      if (hit !== null) return hit
      params.pop()
    }
  }
  if (node.wild !== undefined) {
    const rest = p.slice(pos + 1)
    return { value: node.wild, params: copy(params), rest: decode ? safeDecodeURIComponent(rest) : rest }
  }
  return null
}
