// What every oauth endpoint needs, built once in plugin.ts and passed down explicitly.
import type { Config } from '../config/env.js'
import type { Store } from '../store/types.js'
import type { KeyRing } from './keys.js'
import type { DpopSettings } from './dpop-request.js'
import type { LoginThrottle } from './login-throttle.js'

export interface OAuthDeps {
  config: Readonly<Config>
  store: Store
  keys: KeyRing
  throttle: LoginThrottle
  /** RFC 9449 proofs at the token endpoint (window, nonces, replay store). */
  dpop: DpopSettings
  /** Epoch milliseconds. */
  now: () => number
}

export function nowSeconds (deps: OAuthDeps): number {
  return Math.floor(deps.now() / 1000)
}
