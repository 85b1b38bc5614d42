// Wraps a real store (memory or Redis) so a test can act at an exact point of a request or an
// operator command: run code right after a named call, or lose the store from the n-th call on, as
// a connection that drops before the command is sent. What a call that goes through does is never
// faked: it reaches the real store. Deterministic: no timers, no timing.
import { StoreUnavailableError, type Store } from '../../src/store/types.js'

type Method = { [K in keyof Store]-?: NonNullable<Store[K]> extends (...args: never[]) => unknown ? K : never }[keyof Store]

export interface StoreHooks {
  /** Runs `fn` once, right after the next call of `method` ('*': of any method) resolved and before its caller resumes. */
  onceAfter(method: Method | '*', fn: () => Promise<unknown>): void
  /** From the n-th call counted from now (1-based), every call rejects without reaching the store, until heal(). */
  failFrom(n: number): void
  heal(): void
  /** Names of the calls since failFrom (or since the start), failed ones included. */
  readonly calls: string[]
}

export function hookedStore (inner: Store): { store: Store; hooks: StoreHooks } {
  const after = new Map<string, Array<() => Promise<unknown>>>()
  let failAt: number | null = null
  const calls: string[] = []
  const hooks: StoreHooks = {
    onceAfter (method, fn) { after.set(method, [...(after.get(method) ?? []), fn]) },
    failFrom (n) { failAt = n; calls.length = 0 },
    heal () { failAt = null },
    calls
  }
  const store = new Proxy(inner, {
    get (target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function' || typeof prop !== 'string') return value
      return (...args: unknown[]) => {
        calls.push(prop)
        if (failAt !== null && calls.length >= failAt) return Promise.reject(new StoreUnavailableError(`test: store lost before ${prop}`))
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args)
        if (!(result instanceof Promise)) return result // subscribeRevocations answers at once
        return result.then(async (r: unknown) => {
          for (const key of [prop, '*']) {
            const pending = after.get(key)
            if (pending !== undefined && pending.length > 0) await pending.shift()?.()
          }
          return r
        })
      }
    }
  })
  return { store, hooks }
}
