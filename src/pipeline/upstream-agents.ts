// Upstream TLS (SECURITY.md H15; RFC 9700 §4.13: the proxy-to-app link MUST be protected).
// The forward stage dispatches every request through one undici dispatcher, and TLS is decided here,
// per origin:
//
// - every origin by default: the shared Agent, certificates verified against the system CAs;
// - an upstream with `ca:` or `tls_verify: false`: its own Agent with `connect: { ca, rejectUnauthorized }`.
//
// The route-map loader makes upstreams that share an origin share TLS settings, so the origin a request
// is dispatched to picks the Agent. Agents follow the live route table: each table swap builds what the new
// table needs, keeps an Agent whose settings did not change (and its warm connections), and closes the
// ones no table uses any more once their in-flight requests finish.
import { Agent, type Dispatcher } from 'undici'
import type { CompiledUpstream, RouteTable } from '../config/route-types.js'
import type { RouteSource } from './match.js'

type LogFn = (obj: object, msg: string) => void

/** A route source that can tell about swaps (RouteWatcher); plain sources are checked per request. */
interface SwapSource extends RouteSource {
  onSwap?(listener: (next: RouteTable) => void): () => void
}

export interface UpstreamAgentsOptions {
  routes: SwapSource
  log: { warn: LogFn }
  /** Pool settings shared by every Agent (connections, pipelining ...); TLS is set here. */
  agent?: Omit<Agent.Options, 'connect'>
}

interface CustomAgent {
  readonly agent: Agent
  /** verify flag and CA text: an Agent is reused while both stay the same. */
  readonly key: string
}

export class UpstreamAgents {
  /** What the forward stage dispatches to: the shared Agent, routing custom-TLS origins to their own Agents. */
  readonly dispatcher: Dispatcher
  readonly #routes: SwapSource
  readonly #log: { warn: LogFn }
  readonly #options: Omit<Agent.Options, 'connect'>
  readonly #shared: Agent
  #custom = new Map<string, CustomAgent>()
  #table: RouteTable | null = null
  readonly #unsubscribe: () => void

  constructor (opts: UpstreamAgentsOptions) {
    this.#routes = opts.routes
    this.#log = opts.log
    this.#options = opts.agent ?? {}
    // Stryker disable next-line ObjectLiteral: undici verifies certificates by default; the explicit flag is for the reader (H15 is tested)
    this.#shared = new Agent({ ...this.#options, connect: { rejectUnauthorized: true } })
    this.dispatcher = this.#shared.compose((dispatch) => (options, handler) => {
      const table = this.#routes.current()
      if (table !== this.#table) this.sync(table) // a source without onSwap
      const custom = this.#custom.size === 0 ? undefined : this.#custom.get(originOf(options.origin))
      return custom === undefined ? dispatch(options, handler) : custom.agent.dispatch(options, handler)
    })
    this.#unsubscribe = this.#routes.onSwap?.((next) => { this.sync(next) }) ?? (() => {})
    this.sync(this.#routes.current())
  }

  /** Builds the Agents `table` needs, warns about every unverified upstream, closes unused Agents. */
  sync (table: RouteTable): void {
    this.#table = table
    const next = new Map<string, CustomAgent>()
    for (const up of table.upstreams.values()) {
      if (up.tls === undefined || next.has(up.origin)) continue
      const key = `${String(up.tls.verify)}\n${up.tls.ca ?? ''}`
      const kept = this.#custom.get(up.origin)
      next.set(up.origin, kept?.key === key ? kept : { key, agent: this.#agentFor(up) })
    }
    for (const up of table.upstreams.values()) {
      if (up.tls?.verify === false) {
        this.#log.warn({ reason: 'upstream_tls_unverified', upstream: up.name, origin: up.origin },
          `upstream ${up.name}: TLS certificate verification is OFF (tls_verify: false); anyone on the path can read and change its traffic`)
      }
    }
    const previous = this.#custom
    this.#custom = next
    for (const [origin, old] of previous) {
      if (next.get(origin) !== old) void old.agent.close().catch(() => {})
    }
  }

  /** Closes every Agent (waits for requests in flight). */
  async close (): Promise<void> {
    this.#unsubscribe()
    const agents = [this.#shared, ...[...this.#custom.values()].map((c) => c.agent)]
    this.#custom = new Map()
    await Promise.all(agents.map((a) => a.close().catch(() => {})))
  }

  #agentFor (up: CompiledUpstream): Agent {
    const tls = up.tls!
    return new Agent({
      ...this.#options,
      connect: tls.ca === undefined ? { rejectUnauthorized: tls.verify } : { ca: tls.ca, rejectUnauthorized: tls.verify }
    })
  }
}

function originOf (origin: Dispatcher.DispatchOptions['origin']): string {
  return typeof origin === 'string' ? origin : origin === undefined ? '' : origin.origin
}
