// bench/run.ts phase (c): the gateway's memory after a run with many distinct valid tokens.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { DURATION, MEMORY_MAX_S, MEMORY_TOKENS, note, out } from '../lib/config.js'
import { failures, load, type Ctx } from '../lib/context.js'
import { memoryOf } from '../lib/procs.js'
import { fmtInt, fmtMs } from '../lib/stats.js'
import { mintTokens } from '../lib/tokens.js'

// ---------------------------------------------------------------- (c) memory with many tokens
export async function memory (ctx: Ctx): Promise<void> {
  out(`## (c) Memory after a run with ${fmtInt(MEMORY_TOKENS)} distinct valid tokens`)
  const t0 = performance.now()
  const many = await mintTokens(ctx, MEMORY_TOKENS)
  const file = join(ctx.work, 'many-tokens.txt')
  writeFileSync(file, many.join('\n') + '\n')
  note(`${fmtInt(many.length)} tokens signed in ${((performance.now() - t0) / 1000).toFixed(1)} s with the gateway's key from Redis (src/oauth/jwt.ts signAccessToken, claims of a real token, fresh jti each)`)
  const before = await memoryOf(ctx.portcullis.pid)
  // wrk cycles through the file in order: a 3 s probe with these tokens gives the rate, then one run
  // long enough for every token (+15 %), at most MEMORY_MAX_S
  const probe = await load(ctx, 'memory-probe', ctx.portcullisPort, { tokensFile: file, durationS: 3 })
  const durationS = Math.min(MEMORY_MAX_S, Math.max(DURATION, Math.ceil(1.15 * MEMORY_TOKENS / probe.rps)))
  const res = await load(ctx, 'memory', ctx.portcullisPort, { tokensFile: file, durationS, countStatus: true })
  await sleep(2000)
  const after = await memoryOf(ctx.portcullis.pid)
  const covered = res.requests >= MEMORY_TOKENS ? 'every token used at least once' : `only ${fmtInt(res.requests)} requests within ${MEMORY_MAX_S} s (BENCH_MEMORY_MAX): not every token was used`
  out(`${fmtInt(res.rps)} req/s with distinct tokens (p50 ${fmtMs(res.p50)}, p99 ${fmtMs(res.p99)}) over ${durationS} s, ${fmtInt(res.requests)} requests, ${covered}${failures(res)}`)
  out(`portcullis RSS: ${before.rss.toFixed(0)} MiB before → ${after.rss.toFixed(0)} MiB after (peak VmHWM ${after.hwm.toFixed(0)} MiB)`)
  out()
  ctx.goals.set('memory', after.rss <= 200 && res.requests >= MEMORY_TOKENS, `${after.rss.toFixed(0)} MiB after (${before.rss.toFixed(0)} MiB before, peak ${after.hwm.toFixed(0)} MiB)${res.requests >= MEMORY_TOKENS ? '' : `; only ${fmtInt(res.requests)} requests: not every token was used`}; ${fmtInt(res.rps)} req/s with all-distinct tokens`)
}
