// What every admin route plugin is given (src/admin/index.ts registers them).
import type { Config } from '../config/env.js'
import type { RouteSource } from '../pipeline/match.js'
import type { KeyRing } from '../oauth/keys.js'
import type { Store } from '../store/types.js'
import type { GatewayMetrics } from './metrics.js'

export interface AdminDeps {
  config: Readonly<Config>
  store: Store
  /** The live route map (the RouteWatcher). */
  routes: RouteSource
  keys: KeyRing
  /** The gateway's metrics; also holds the pipeline's revocation replica (null: strict mode). */
  metrics: GatewayMetrics
  /** Epoch ms when the gateway started, and the clock (uptime). */
  startedAt: number
  now: () => number
}
