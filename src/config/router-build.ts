// Building the find-my-way routers of a large route table (issue 10: reload 10,000 routes in at most
// 300 ms). For every route find-my-way compiles, with `new Function`, a params-object factory and a
// constraint matcher: about a third of the router's build time for a 10,000-route map. Our routers
// use positional parameter names (p0, p1, ..., `*`), so the factories are a handful of distinct
// functions, built once and shared; and they never match on constraints (no host or version), so the
// matcher is compiled only if it is ever asked for. Applied only while one of our tables is built
// (synchronously), then put back: Fastify's own router is untouched. If find-my-way's internals
// change, nothing is patched and the build is only slower.
import { createRequire } from 'node:module'

type Fn = (...args: unknown[]) => unknown
interface HandlerStorageProto {
  _compileCreateParamsObject: (this: unknown, params: string[]) => Fn
  _compileGetHandlerMatchingConstraints: (this: { _getHandlerMatchingConstraints: Fn }, constrainer: unknown, ...rest: unknown[]) => void
}

const proto = ((): HandlerStorageProto | null => {
  try {
    const HandlerStorage = createRequire(import.meta.url)('find-my-way/lib/handler-storage.js') as { prototype: Partial<HandlerStorageProto> }
    const p = HandlerStorage.prototype
    return typeof p._compileCreateParamsObject === 'function' && typeof p._compileGetHandlerMatchingConstraints === 'function' ? p as HandlerStorageProto : null
  } catch {
    return null
  }
})()

const factories = new Map<string, Fn>()

/** Runs `build` (which creates and fills find-my-way routers, synchronously) with the cheap build. */
export function withSharedRouterCode<T> (build: () => T): T {
  if (proto === null) return build()
  const createParams = proto._compileCreateParamsObject
  const compileMatcher = proto._compileGetHandlerMatchingConstraints
  proto._compileCreateParamsObject = function (params) {
    const key = JSON.stringify(params)
    let f = factories.get(key)
    if (f === undefined) factories.set(key, f = createParams.call(this, params))
    return f
  }
  proto._compileGetHandlerMatchingConstraints = function (...args) {
    // compiled on first use, from the storage's handlers as they are then (the last compile wins anyway)
    this._getHandlerMatchingConstraints = function (this: { _getHandlerMatchingConstraints: Fn }, ...derived: unknown[]) {
      compileMatcher.apply(this, args as [unknown])
      return this._getHandlerMatchingConstraints(...derived)
    }
  }
  try {
    return build()
  } finally {
    proto._compileCreateParamsObject = createParams
    proto._compileGetHandlerMatchingConstraints = compileMatcher
  }
}
