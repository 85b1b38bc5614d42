// The compiled route table: one find-my-way router per table, built once, frozen, read per request.
//
// Path semantics (the overlap check in route-overlap.ts and the router must agree on them):
// - a static segment matches itself exactly (case-sensitive);
// - `:name` matches one NON-EMPTY segment (find-my-way would also take an empty one, so a match with an
//   empty parameter is discarded: `/a/:x` does not match `/a/`);
// - a trailing `/*` matches the rest of the path, including nothing: `/orders/*` matches `/orders/`,
//   `/orders/a/b` AND the prefix itself, `/orders` (registered twice in find-my-way for that).
// Within one method no two routes can match the same path (the loader refuses overlaps), so the
// router's static > param > wildcard preference never decides which route serves a request.
import Router from 'find-my-way'
import type { PathSegment, RoutePattern } from './route-map-schema.js'
import { OverlapIndex, methodMask, methodsOf, shapeOf } from './route-overlap.js'
import { routeMapVersion } from './route-version.js'
import { withSharedRouterCode } from './router-build.js'
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

/** A route in a router. Router parameters are positional (:p0, :p1, ...), renamed on a match. */
interface Registration {
  readonly route: CompiledRoute
  readonly paramNames: readonly string[]
  readonly wildcard: boolean
}

/** The routes of one shape: they match the same paths and differ in methods only. */
interface Shape {
  readonly byMethod: Array<Registration | undefined>
  mask: number
  readonly paramCount: number
  /** A route of another shape (and other methods) overlaps this one: lookup() asks the method routers. */
  cross: boolean
}

/**
 * What a router returns; `prefix`: registered for the bare prefix of a `/*` route (`*` is '').
 * In the shape router `/a` can be both an exact shape and the prefix of `/a/*`: the exact one is
 * stored, and both are `cross`, so the prefix's methods are found through the method routers.
 */
interface ShapeStore { shape: Shape, prefix: boolean }
interface RouteStore { readonly reg: Registration, readonly prefix: boolean }

type FindMyWay = ReturnType<typeof Router>
type RawParams = Record<string, string | undefined>

const NOT_FOUND: RouteLookup = Object.freeze({ kind: 'not_found' })
// one frozen 405 answer per set of methods, built up front: a miss allocates nothing
const NOT_ALLOWED: RouteLookup[] = Array.from({ length: 1 << HTTP_METHODS.length }, (_, mask) =>
  Object.freeze({ kind: 'method_not_allowed', allow: Object.freeze(methodsOf(mask)) }))
const METHOD_INDEX = new Map<string, number>(HTTP_METHODS.map((m, i) => [m, i]))
const EMPTY_PARAMS: Readonly<RawParams> = Object.freeze(Object.create(null) as RawParams)
const POSITIONAL: string[] = []
const noop = (): void => {}

// maxParamLength: find-my-way's default (100) would turn a long segment into a 404; URL length is
// bounded by the HTTP server, not here
function newRouter (): FindMyWay {
  return Router({ ignoreTrailingSlash: false, caseSensitive: true, ignoreDuplicateSlashes: false, maxParamLength: 1 << 20 })
}

/** find-my-way syntax: positional parameters; a literal ':' in a static segment is written '::'. */
function routerPath (segments: readonly PathSegment[]): string {
  let n = 0
  return '/' + segments.map((s) => s.kind === 'param' ? `:${POSITIONAL[n++]!}` : s.value.replaceAll(':', '::')).join('/')
}

/** The router paths of a pattern: a `/*` pattern has two, `/a/*` and its bare prefix `/a`. */
function routerPaths (pattern: RoutePattern): Array<{ path: string, prefix: boolean }> {
  const base = routerPath(pattern.segments)
  if (!pattern.wildcard) return [{ path: base, prefix: false }]
  if (base === '/') return [{ path: '/*', prefix: false }]
  return [{ path: `${base}/*`, prefix: false }, { path: base, prefix: true }]
}

/** find-my-way lets `:x` match an empty segment; our patterns do not (see the top of this file). */
function hasEmptyParam (raw: RawParams, count: number): boolean {
  for (let i = 0; i < count; i++) if (raw[POSITIONAL[i]!] === '') return true
  return false
}

function match (reg: Registration, raw: RawParams, prefix: boolean): RouteLookup {
  const names = reg.paramNames
  let params = EMPTY_PARAMS
  if (names.length > 0 || reg.wildcard) {
    const named: RawParams = Object.create(null) as RawParams // a parameter may be called __proto__
    for (let i = 0; i < names.length; i++) named[names[i]!] = raw[POSITIONAL[i]!]
    if (reg.wildcard) named['*'] = prefix ? '' : raw['*']
    params = named
  }
  return { kind: 'match', route: reg.route, params }
}

/**
 * Lookup uses one router holding each route shape once (so a 10,000-route map costs ~10,000
 * registrations, not one per method), plus per-method routers holding only the routes that overlap
 * a route of another shape (e.g. GET /a/* next to POST /a/:id), asked only when the first answer
 * comes from such a shape. Any route matching a path overlaps the shape the first router found for
 * it, so that answer is complete. Still O(path length).
 */
export class CompiledRouteTable implements RouteTable {
  readonly routes: readonly CompiledRoute[]
  readonly upstreams: ReadonlyMap<string, CompiledUpstream>
  readonly file: string
  readonly scopeDescriptions: ReadonlyMap<string, string>
  readonly #shapes = newRouter()
  readonly #byMethod: Array<FindMyWay | undefined> = HTTP_METHODS.map(() => undefined)
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
    withSharedRouterCode(() => { this.#build(routes, patterns, overlaps?.length === routes.length ? overlaps : undefined) })
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
    const stores = new Map<string, ShapeStore>()
    const index = overlaps === undefined ? new OverlapIndex() : null
    for (const [i, route] of routes.entries()) {
      const pattern = patterns[i]!
      const key = shapeOf(pattern)
      const mask = methodMask(route.methods)
      keys.push(key)
      masks.push(mask)
      for (const j of index?.add(pattern, i) ?? overlaps![i]!) {
        if ((masks[j]! & mask) !== 0) throw new TypeError(`routes overlap on a shared method: ${routes[j]!.id} and ${route.id}`)
        if (keys[j] !== key) overlapping.add(i).add(j)
      }
      const paramNames = pattern.segments.flatMap((s) => s.kind === 'param' ? [s.name] : [])
      while (POSITIONAL.length < paramNames.length) POSITIONAL.push(`p${POSITIONAL.length}`)
      const reg: Registration = Object.freeze({ route, paramNames, wildcard: pattern.wildcard })
      regs.push(reg)
      let shape = shapes.get(key)
      if (shape === undefined) {
        shape = { byMethod: HTTP_METHODS.map(() => undefined), mask: 0, paramCount: paramNames.length, cross: false }
        shapes.set(key, shape)
        for (const { path, prefix } of routerPaths(pattern)) {
          const store = stores.get(path)
          if (store === undefined) {
            stores.set(path, { shape, prefix })
            this.#shapes.on('GET', path, noop, stores.get(path))
          } else if (store.prefix && !prefix) {
            store.shape = shape // the exact shape wins; the prefix is found through the method routers
            store.prefix = false
          }
        }
      }
      for (const m of route.methods) shape.byMethod[METHOD_INDEX.get(m)!] = reg
      shape.mask |= mask
    }
    for (const i of overlapping) {
      shapes.get(keys[i]!)!.cross = true
      const reg = regs[i]!
      for (const m of reg.route.methods) {
        const mi = METHOD_INDEX.get(m)!
        const router = this.#byMethod[mi] ??= newRouter()
        for (const { path, prefix } of routerPaths(patterns[i]!)) router.on(m, path, noop, Object.freeze({ reg, prefix }))
      }
    }
    for (const shape of shapes.values()) Object.freeze(Object.freeze(shape).byMethod)
    for (const store of stores.values()) Object.freeze(store)
  }

  /** Computed on first read (a 10,000-route map is hashed only when someone asks for its version). */
  get version (): string {
    this.#version ??= routeMapVersion(this.routes, this.upstreams.values(), this.scopeDescriptions)
    return this.#version
  }

  lookup (method: string, path: string): RouteLookup {
    // find-my-way would read 'http://host/x' as an absolute URL: only origin-form paths are routed
    if (typeof path !== 'string' || path.charCodeAt(0) !== 47) return NOT_FOUND
    try {
      const found = this.#shapes.find('GET', path)
      if (found === null) return NOT_FOUND
      const { shape, prefix } = found.store as ShapeStore
      const raw = found.params
      const strict = !hasEmptyParam(raw, shape.paramCount)
      const mi = METHOD_INDEX.get(method)
      if (strict && mi !== undefined) {
        const reg = shape.byMethod[mi]
        if (reg !== undefined) return match(reg, raw, prefix)
      }
      // RFC 9110 §15.5.6: a 405 lists the methods the target supports (HEAD only when listed)
      if (!shape.cross) return strict ? NOT_ALLOWED[shape.mask]! : NOT_FOUND
      return this.#acrossShapes(mi, path, strict ? shape.mask : 0)
    } catch {
      return NOT_FOUND
    }
  }

  /** The path may also match routes of other shapes: ask the per-method routers. */
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
    const found = this.#byMethod[mi]?.find(HTTP_METHODS[mi]!, path)
    if (found == null) return null
    const { reg, prefix } = found.store as RouteStore
    if (hasEmptyParam(found.params, reg.paramNames.length)) return null
    return match(reg, found.params, prefix)
  }
}
