// bench/run.ts, before any load: every target refuses bad tokens and accepts a good one.
import { NO_AUTH, PATH, USER, out, type Target } from '../lib/config.js'
import type { Ctx } from '../lib/context.js'
import { http } from '../lib/http.js'
import { forge, mintTokens, passwordGrant, tamper } from '../lib/tokens.js'

// ---------------------------------------------------------------- refuse bad, accept good
export async function checks (ctx: Ctx, targets: Target[]): Promise<void> {
  out('## Checks before load (a bad token is refused, a good one accepted)')
  const good = ctx.tokens[0] as string
  const writeOnly = await passwordGrant(ctx.portcullisPort, 'orders:write')
  const bad: Array<[string, string | null, number[]]> = [
    ['no token', null, [401]],
    ['tampered signature', tamper(good), [401]],
    ['forged (unknown key)', forge(good), [401]],
    ['expired', null, [401]], // filled below: HAProxy and the naive stack cannot be given an expired token of ours any other way
    ['missing scope', writeOnly, [403]]
  ]
  // an expired token with a valid signature: mint one with the gateway's key
  const expired = await mintTokens(ctx, 1, -3600)
  ;(bad[3] as [string, string | null, number[]])[1] = expired[0] as string
  for (const t of targets) {
    const port = ctx.ports[t] as number
    const ok = await http(port, PATH, { headers: { authorization: `Bearer ${good}` } })
    const seen = ok.headers.get('x-seen-subject')
    const parts = [`good token ${ok.status}${seen !== null ? ` (upstream saw x-auth-subject: ${seen})` : ''}`]
    if (ok.status !== 200) throw new Error(`${t} did not accept a good token: ${ok.status} ${ok.body.slice(0, 200)}`)
    if (NO_AUTH.has(t)) {
      out(`- ${t}: ${parts[0]}; refusal check skipped: no auth by design`)
      continue
    }
    if (seen !== USER) throw new Error(`${t}: the upstream did not get x-auth-subject=${USER}`)
    for (const [name, token, expect] of bad) {
      const r = await http(port, PATH, token === null ? {} : { headers: { authorization: `Bearer ${token}` } })
      if (!expect.includes(r.status)) throw new Error(`${t} answered ${r.status} to a ${name} token (expected ${expect.join('/')})`)
      parts.push(`${name} ${r.status}`)
    }
    out(`- ${t}: ${parts.join(', ')}`)
  }
  out()
}
