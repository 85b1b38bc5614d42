// The targets of issue 10, judged from one `npm run bench` run: each section of bench/run.ts records
// its verdict here, and the summary prints every target as PASS, FAIL, REPORTED (a figure with no
// threshold) or NOT MEASURED (its section was not run). Misses are printed, never an exit code.
export type GoalId = 'bare' | 'haproxy' | 'p99' | 'routes' | 'revocation' | 'reload' | 'memory' | 'logins' | 'loginRate'

export interface GoalKnobs { connections: number, routes: number, memoryTokens: number, loginRate: number, nproc: number }

interface Verdict { verdict: 'PASS' | 'FAIL' | 'REPORTED', detail: string }

export class Goals {
  readonly #titles: Record<GoalId, [title: string, section: string]>
  readonly #got = new Map<GoalId, Verdict>()

  constructor (k: GoalKnobs) {
    const n = (x: number): string => x.toLocaleString('en-US')
    this.#titles = {
      bare: ['Portcullis ÷ fastify-bare ≥ 0.95 (req/s, default configuration)', 'main table'],
      haproxy: ['Portcullis ÷ haproxy-jwt ≥ 1.0 (req/s, default configuration)', 'main table with haproxy-jwt'],
      p99: [`proxied p99 at ${k.connections} connections ≤ 1.5 × fastify-bare's p99`, 'main table with fastify-bare'],
      routes: [`${n(k.routes)} routes within 5 % of 10 routes (req/s)`, 'extra routes'],
      revocation: ['replicated revocation: revoke-to-refusal p99 ≤ 50 ms', 'extra revocation'],
      reload: [`reload of ${n(k.routes)} routes ≤ 300 ms under load, no failed request`, 'extra routes'],
      memory: [`RSS after ${n(k.memoryTokens)} distinct tokens ≤ 200 MiB`, 'extra memory'],
      logins: [`proxied p99 with ${k.loginRate} logins/s alongside ≤ 1.5 × quiet`, 'extra login'],
      loginRate: [`logins per second on ${k.nproc} cores (reported)`, 'extra login']
    }
  }

  /** pass null: a figure without a threshold (REPORTED). */
  set (id: GoalId, pass: boolean | null, detail: string): void {
    this.#got.set(id, { verdict: pass === null ? 'REPORTED' : pass ? 'PASS' : 'FAIL', detail })
  }

  lines (): string[] {
    return (Object.keys(this.#titles) as GoalId[]).map((id) => {
      const [title, section] = this.#titles[id]
      const v = this.#got.get(id)
      return v === undefined ? `NOT MEASURED  ${title} (needs the ${section})` : `${v.verdict.padEnd(12)}  ${title}: ${v.detail}`
    })
  }

  counts (): { pass: number, fail: number } {
    const vs = [...this.#got.values()]
    return { pass: vs.filter((v) => v.verdict === 'PASS').length, fail: vs.filter((v) => v.verdict === 'FAIL').length }
  }
}
