// The compiled route table: segment tries (route-trie.ts) built once, frozen, read per request.
//
// Path semantics (the overlap check in route-overlap.ts and the trie must agree on them):
// - a static segment matches itself exactly (case-sensitive);
// - `:name` matches one NON-EMPTY segment (the trie, like find-my-way before it, also takes an empty
//   one, so a match with an empty parameter is discarded: `/a/:x` does not match `/a/`);
// - a trailing `/*` matches the rest of the path, including nothing: `/orders/*` matches `/orders/`,
//   `/orders/a/b` AND the prefix itself, `/orders` (registered twice in the trie for that).
// Within one method no two routes can match the same path (the loader refuses overlaps), so the
// trie's static > param > wildcard preference never decides which route serves a request.
import type { RoutePattern } from './route-map-schema.js'
import { OverlapIndex, methodMask, methodsOf, shapeOf } from './route-overlap.js'
import { SegmentTrie, type TrieHit } from './route-trie.js'
import { routeMapVersion } from './route-version.js'
import {
  HTTP_METHODS, type CompiledRoute, type CompiledUpstream, type RouteLookup, type RouteTable
} from './route-types.js'

export { OverlapIndex, methodMask, methodsOf, patternsOverlap, shapeOf } from './route-overlap.js'

/** A Map that refuses changes once built (Object.freeze does not stop Map.prototype.set). */
class FrozenMap<K, V> extends Map<K, V> {
  readonly #sealed: boolean
  constructor (entries: Iterable<readonly [K, V]>) {
    super()
    for (const [k, v] of entries) super.set(k, v)
    this.#sealed = true
    Object.freeze(this)
  }

  override set (k: K, v: V): this {
    if (this.#sealed) throw new TypeError('the route table is frozen')
    return super.set(k, v)
  }

  override delete (k: K): boolean {
    if (this.#sealed) throw new TypeError('the route table is frozen')
    return super.delete(k)
  }

  override clear (): void {
    if (this.#sealed) throw new TypeError('the route table is frozen')
  }
}

/** A route in a trie. The trie's parameters are positional, named by the route on a match. */
interface Registration {
  readonly route: CompiledRoute
  readonly paramNames: readonly string[]
  readonly wildcard: boolean
}

/** The routes of one shape: they match the same paths and differ in methods only. */
interface Shape {
  readonly byMethod: Array<Registration | undefined>
  mask: number
  /** A route of another shape (and other methods) overlaps this one: lookup() asks the method tries. */
  cross: boolean
}

/**
 * What a trie holds; `prefix`: put at the bare prefix of a `/*` route (`*` is '').
 * In the shape trie `/a` can be both an exact shape and the prefix of `/a/*`: the exact one is
 * stored, and both are `cross`, so the prefix's methods are found through the method tries.
 */
interface ShapeStore { readonly shape: Shape, readonly prefix: boolean }
interface RouteStore { readonly reg: Registration, readonly prefix: boolean }

const NOT_FOUND: RouteLookup = Object.freeze({ kind: 'not_found' })
// one frozen 405 answer per set of methods, built up front: a miss allocates nothing
const NOT_ALLOWED: RouteLookup[] = Array.from({ length: 1 << HTTP_METHODS.length }, (_, mask) =>
  Object.freeze({ kind: 'method_not_allowed', allow: Object.freeze(methodsOf(mask)) }))
const METHOD_INDEX = new Map<string, number>(HTTP_METHODS.map((m, i) => [m, i]))
const EMPTY_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>)

const NO_NAMES: readonly string[] = Object.freeze([])

function paramNamesOf (pattern: RoutePattern): readonly string[] {
  let names: string[] | null = null
  for (const s of pattern.segments) if (s.kind === 'param') (names ??= []).push(s.name)
  return names ?? NO_NAMES
}

/** The trie lets `:x` match an empty segment; our patterns do not (see the top of this file). */
function hasEmptyParam (hit: TrieHit<unknown>): boolean {
  return hit.params.includes('')
}

function match (reg: Registration, hit: TrieHit<unknown>): RouteLookup {
  const names = reg.paramNames
  let params = EMPTY_PARAMS
  if (names.length > 0 || reg.wildcard) {
    const named = Object.create(null) as Record<string, string> // a parameter may be called __proto__
    for (let i = 0; i < names.length; i++) named[names[i]!] = hit.params[i]!
    if (reg.wildcard) named['*'] = hit.rest // '' for the bare prefix
    params = named
  }
  return { kind: 'match', route: reg.route, params }
}

/**
 * Puts `value(prefix)` where `pattern` ends: a `/*` pattern at its wildcard and, unless it is `/*`
 * itself (the root's wildcard also takes `/`), at its bare prefix. An exact value already at the bare
 * prefix stays (the exact shape wins: the prefix's methods are found through the method tries).
 */
function insert<T extends { prefix: boolean }> (trie: SegmentTrie<T>, pattern: RoutePattern, value: (prefix: boolean) => T): void {
  const node = trie.node(pattern.segments)
  if (!pattern.wildcard) {
    if (node.exact === undefined || node.exact.prefix) node.exact = value(false)
    return
  }
  node.wild = value(false)
  if (pattern.segments.length > 0 && node.exact === undefined) node.exact = value(true)
}

/**
 * Lookup uses one trie holding each route shape once (so a 10,000-route map costs ~10,000
 * registrations, not one per method), plus per-method tries holding only the routes that overlap
 * a route of another shape (e.g. GET /a/* next to POST /a/:id), asked only when the first answer
 * comes from such a shape. Any route matching a path overlaps the shape the first trie found for
 * it, so that answer is complete. Still O(path length).
 */
export class CompiledRouteTable implements RouteTable {
  readonly routes: readonly CompiledRoute[]
  readonly upstreams: ReadonlyMap<string, CompiledUpstream>
  readonly file: string
  readonly scopeDescriptions: ReadonlyMap<string, string>
  readonly #shapes = new SegmentTrie<ShapeStore>()
  readonly #byMethod: Array<SegmentTrie<RouteStore> | undefined> = HTTP_METHODS.map(() => undefined)
  #version: string | undefined

  /**
   * `routes[i]` has the pattern `patterns[i]`. The loader has refused overlaps on a shared method
   * (a TypeError here if not), reserved paths and bad references; routes and upstreams are frozen.
   * `overlaps[i]`: the earlier routes whose patterns overlap route i (any method), as the loader's
   * OverlapIndex found them; computed here when not given.
   */
  constructor (routes: readonly CompiledRoute[], patterns: readonly RoutePattern[],
    upstreams: Iterable<readonly [string, CompiledUpstream]>, file: string, scopeDescriptions: ReadonlyMap<string, string> = new Map(),
    overlaps?: ReadonlyArray<readonly number[]>) {
    this.scopeDescriptions = scopeDescriptions
    this.#build(routes, patterns, overlaps?.length === routes.length ? overlaps : undefined)
    this.routes = Object.freeze([...routes])
    this.upstreams = new FrozenMap(upstreams)
    this.file = file
    Object.freeze(this)
  }

  #build (routes: readonly CompiledRoute[], patterns: readonly RoutePattern[], overlaps: ReadonlyArray<readonly number[]> | undefined): void {
    const shapes = new Map<string, Shape>()
    const keys: string[] = []
    const masks: number[] = []
    const regs: Registration[] = []
    const overlapping = new Set<number>()
    const index = overlaps === undefined ? new OverlapIndex() : null
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i]!
      const pattern = patterns[i]!
      const key = shapeOf(pattern)
      const mask = methodMask(route.methods)
      keys.push(key)
      masks.push(mask)
      const earlier = index === null ? overlaps![i]! : index.add(pattern, i)
      for (let k = 0; k < earlier.length; k++) {
        const j = earlier[k]!
        if ((masks[j]! & mask) !== 0) throw new TypeError(`routes overlap on a shared method: ${routes[j]!.id} and ${route.id}`)
        if (keys[j] !== key) overlapping.add(i).add(j)
      }
      const reg: Registration = Object.freeze({ route, paramNames: paramNamesOf(pattern), wildcard: pattern.wildcard })
      regs.push(reg)
      let shape = shapes.get(key)
      if (shape === undefined) {
        const created: Shape = shape = { byMethod: new Array<Registration | undefined>(HTTP_METHODS.length).fill(undefined), mask: 0, cross: false }
        shapes.set(key, created)
        insert(this.#shapes, pattern, (prefix) => Object.freeze({ shape: created, prefix }))
      }
      for (let m = 0; m < HTTP_METHODS.length; m++) if ((mask & (1 << m)) !== 0) shape.byMethod[m] = reg
      shape.mask |= mask
    }
    for (const i of overlapping) {
      shapes.get(keys[i]!)!.cross = true
      const reg = regs[i]!
      for (const m of reg.route.methods) {
        const trie = this.#byMethod[METHOD_INDEX.get(m)!] ??= new SegmentTrie()
        insert(trie, patterns[i]!, (prefix) => Object.freeze({ reg, prefix }))
      }
    }
    for (const shape of shapes.values()) Object.freeze(Object.freeze(shape).byMethod)
  }

  /** Computed on first read (a 10,000-route map is hashed only when someone asks for its version). */
  get version (): string {
    this.#version ??= routeMapVersion(this.routes, this.upstreams.values(), this.scopeDescriptions)
    return this.#version
  }

  lookup (method: string, path: string): RouteLookup {
    // only origin-form paths are routed ('http://host/x' is not a path)
    if (typeof path !== 'string' || path.charCodeAt(0) !== 47) return NOT_FOUND
    try {
      const found = this.#shapes.find(path)
      if (found === null) return NOT_FOUND
      const { shape } = found.value
      const strict = !hasEmptyParam(found)
      const mi = METHOD_INDEX.get(method)
      if (strict && mi !== undefined) {
        const reg = shape.byMethod[mi]
        if (reg !== undefined) return match(reg, found)
      }
      // RFC 9110 §15.5.6: a 405 lists the methods the target supports (HEAD only when listed)
      if (!shape.cross) return strict ? NOT_ALLOWED[shape.mask]! : NOT_FOUND
      return this.#acrossShapes(mi, path, strict ? shape.mask : 0)
    } catch {
      return NOT_FOUND
    }
  }

  /** The path may also match routes of other shapes: ask the per-method tries. */
  #acrossShapes (mi: number | undefined, path: string, allow: number): RouteLookup {
    if (mi !== undefined) {
      const hit = this.#findIn(mi, path)
      if (hit !== null) return hit
    }
    for (let i = 0; i < HTTP_METHODS.length; i++) {
      if (i !== mi && (allow & (1 << i)) === 0 && this.#findIn(i, path) !== null) allow |= 1 << i
    }
    return allow === 0 ? NOT_FOUND : NOT_ALLOWED[allow]!
  }

  #findIn (mi: number, path: string): RouteLookup | null {
    const found = this.#byMethod[mi]?.find(path)
    if (found == null || hasEmptyParam(found)) return null
    return match(found.value.reg, found)
  }
}
