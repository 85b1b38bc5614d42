// What the pipeline tells an observer (metrics, src/admin/metrics.ts). Absent (ADMIN_PORT=0): the
// pipeline makes no call at all, so observation costs nothing when it is off.
import type { RevocationReplica } from '../revocation/replica.js'
import type { PipelineContext } from './context.js'
import type { TokenCache } from './token-cache.js'

export interface PipelineObserver {
  /** Every check passed and forwarding starts now: the time spent before forwarding is known. */
  forwarding(ctx: PipelineContext): void
  /** The pipeline's parts whose state is read at scrape time (null: TOKEN_CACHE_SIZE=0 / strict revocation). */
  attach(parts: { tokenCache: TokenCache | null, revocations: RevocationReplica | null }): void
}
