// Whether a set of route patterns matches every path one pattern matches: how the access diff tells
// "these paths were served before" from "these paths are new". Path semantics as src/config/route-table.ts:
// a static segment matches itself, `:name` one non-empty segment, a last `/*` the rest of the path
// including nothing and a trailing slash (`/a/*` matches `/a`, `/a/` and `/a/b/c`).
import type { PathSegment, RoutePattern } from '../config/route-map-schema.js'

interface Rest { readonly segments: readonly PathSegment[], readonly wildcard: boolean }

/** True when every path `p` matches is matched by at least one of `qs`. */
export function coveredBy (p: RoutePattern, qs: readonly RoutePattern[]): boolean {
  return covered(p.segments, p.wildcard, qs)
}

/**
 * Walks p segment by segment, keeping the rests of the patterns that still match the same prefix.
 * A parameter of p stands for any segment: it is tried as each static segment the others name there
 * and as one they do not name (which only their parameters match). Ends because p gets shorter.
 */
function covered (segments: readonly PathSegment[], wildcard: boolean, qs: readonly Rest[]): boolean {
  // a pattern that ends in `/*` here matches whatever follows
  if (qs.some((q) => q.segments.length === 0 && q.wildcard)) return true
  if (segments.length === 0) {
    // p ends here: its own end is covered by a pattern ending here; a `/*` of p also matches a
    // trailing slash and longer paths, which only a `/*` pattern ending here (handled above) covers
    return !wildcard && qs.some((q) => q.segments.length === 0)
  }
  const [head, ...rest] = segments as [PathSegment, ...PathSegment[]]
  // the rests of the patterns whose next segment takes `value` (a parameter takes any segment)
  const step = (value: string): Rest[] => qs.flatMap((q) => {
    const first = q.segments[0]
    if (first === undefined || (first.kind === 'static' && first.value !== value)) return []
    return [{ segments: q.segments.slice(1), wildcard: q.wildcard }]
  })
  if (head.kind === 'static') return covered(rest, wildcard, step(head.value))
  const named = new Set(qs.flatMap((q) => q.segments[0]?.kind === 'static' ? [q.segments[0].value] : []))
  for (const value of named) if (!covered(rest, wildcard, step(value))) return false
  // a segment no other pattern names: only their parameters take it
  return covered(rest, wildcard, qs.flatMap((q) => q.segments[0]?.kind === 'param' ? [{ segments: q.segments.slice(1), wildcard: q.wildcard }] : []))
}
