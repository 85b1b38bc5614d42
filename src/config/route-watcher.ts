// Owns the live RouteTable and swaps it atomically on reload: on a change of the file (watched through
// its directory, so in-place writes and editors' rename-over-the-file both count), on a swap of a
// symlink it resolves through (a Kubernetes ConfigMap volume renames `..data` over itself: the file
// `routes.yaml -> ..data/routes.yaml` never changes, its target does) and on SIGHUP (wired by server.ts). A bad, unreadable or deleted file never replaces a good table: the old map stays live
// and every problem is logged with its position.
import { createHash } from 'node:crypto'
import { readFileSync, realpathSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { watch, type FSWatcher } from 'chokidar'
import { loadRouteTable } from './route-map-loader.js'
import { RouteMapError, formatIssue, type RouteTable } from './route-types.js'

type LogFn = (obj: object, msg?: string) => void
/** The part of a pino logger the watcher uses. */
export interface WatcherLogger { info: LogFn, warn: LogFn, error: LogFn }

/** Called after each swap, with the new and the replaced table and what triggered the reload. */
export type SwapListener = (next: RouteTable, previous: RouteTable, trigger: string) => void

/** How a reload ended: `success` (swapped), `rejected` (the new map has errors) or `failed` (could not load). */
export type ReloadOutcome = 'success' | 'rejected' | 'failed'

export interface RouteWatcherOptions {
  /**
   * Quiet time after a file event before reloading (editors write in bursts). Default 75 ms, at least
   * 60: chokidar drops a change within 50 ms of the previous one, so the reload must read after that.
   */
  debounceMs?: number
  /** Reads and compiles the file (default: loadRouteTable); dev mode passes its upstream rewrite. */
  load?: (file: string) => Promise<RouteTable>
}

export class RouteWatcher {
  readonly file: string
  readonly #log: WatcherLogger
  readonly #debounceMs: number
  readonly #load: (file: string) => Promise<RouteTable>
  readonly #listeners = new Set<SwapListener>()
  readonly #outcomeListeners = new Set<(outcome: ReloadOutcome) => void>()
  #table: RouteTable
  #chain: Promise<unknown> = Promise.resolve()
  #watcher: FSWatcher | null = null
  #ready: Promise<void> = Promise.resolve()
  #timer: NodeJS.Timeout | null = null
  /** The file's resolved path when last loaded or checked (symlinks followed); null when unresolvable. */
  #target: string | null = null
  /** SHA-256 of the text this watcher last swapped in (null: none yet, or the table came from elsewhere). */
  #liveDigest: string | null = null

  constructor (file: string, initialTable: RouteTable, logger: WatcherLogger, opts: RouteWatcherOptions = {}) {
    this.file = file
    this.#table = initialTable
    this.#log = logger
    this.#debounceMs = Math.max(opts.debounceMs ?? 75, 60)
    this.#load = opts.load ?? loadRouteTable
  }

  /** The live table (hot path: one field read). */
  current (): RouteTable {
    return this.#table
  }

  /** Observes swaps (metrics, logs); returns the function that stops observing. */
  onSwap (listener: SwapListener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** Observes every reload's outcome (metrics); returns the function that stops observing. */
  onReload (listener: (outcome: ReloadOutcome) => void): () => void {
    this.#outcomeListeners.add(listener)
    return () => { this.#outcomeListeners.delete(listener) }
  }

  /**
   * Loads and checks the file; swaps the table only when it is valid. Reloads run one at a time, in
   * call order, so the last one reads the newest file. Never rejects; resolves to whether it swapped.
   */
  reload (trigger: string): Promise<boolean> {
    const run = this.#chain.then(() => this.#reloadNow(trigger)).catch(() => false) // e.g. a logger that throws
      .then((swapped) => {
        if (swapped === UNCHANGED) return false // nothing was reloaded: no outcome to report
        this.#reported(this.#outcome ?? (swapped ? 'success' : 'failed'))
        return swapped
      })
    this.#chain = run
    return run
  }

  /** Starts watching the file; resolves once the watcher is ready. Errors are logged, never thrown. */
  start (): Promise<void> {
    if (this.#watcher !== null) return this.#ready
    const full = resolve(this.file)
    const dir = dirname(full)
    const name = basename(full)
    const watcher = watch(dir, {
      ignoreInitial: true,
      depth: 0,
      ignored: (path: string) => path !== dir && basename(path) !== name
    })
    watcher.on('all', (_event, path) => {
      if (basename(path) === name) this.#schedule()
    })
    // Unfiltered fs events: one for the file itself schedules a reload too (chokidar's own event can be
    // folded away when the path changes kind, file → directory → file, in a burst; the debounce makes
    // the two one reload). Any other entry of the directory changing may be a symlink the file resolves
    // through being swapped, which chokidar, watching the old target, does not report.
    watcher.on('raw', (_event, path) => {
      if (basename(path) === name) this.#schedule()
      else this.#checkTarget(full)
    })
    this.#checkTarget(full, false)
    watcher.on('error', (err) => {
      this.#log.error({ reason: 'routes_watch_failed', file: this.file, err }, 'cannot watch the route map file; SIGHUP still reloads it')
    })
    this.#watcher = watcher
    // an error before 'ready' must not leave start() pending forever
    this.#ready = new Promise((resolve) => {
      watcher.once('ready', () => { resolve() })
      watcher.once('error', () => { resolve() })
    })
    return this.#ready
  }

  /** Stops watching and waits for a reload in progress. */
  async stop (): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    const watcher = this.#watcher
    this.#watcher = null
    if (watcher !== null) await watcher.close()
    await this.#chain
  }

  /** Reloads when the file now resolves elsewhere; `reload: false` only records where it resolves. */
  #checkTarget (full: string, reload = true): void {
    const target = realpathOrNull(full)
    if (target === this.#target) return
    this.#target = target
    if (reload) this.#schedule()
  }

  #schedule (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = null
      if (this.#watcher !== null) void this.reload(FILE_CHANGED)
    }, this.#debounceMs)
    this.#timer.unref()
  }

  /** The outcome of the reload running now, set by #reloadNow. */
  #outcome: ReloadOutcome | null = null

  #reported (outcome: ReloadOutcome): void {
    this.#outcome = null
    for (const listener of this.#outcomeListeners) {
      try { listener(outcome) } catch { /* an observer never changes a reload */ }
    }
  }

  /** Whether it swapped; UNCHANGED when a file event found the live map's text. */
  async #reloadNow (trigger: string): Promise<boolean | typeof UNCHANGED> {
    this.#outcome = null
    const t0 = performance.now()
    let next: RouteTable
    // synchronous (a few µs): awaiting fs/promises here waited one event-loop turn, under load that
    // turn's requests, before the compile began (as loadRouteTable's read)
    if (this.#watcher !== null) this.#target = realpathOrNull(this.file)
    // A file event whose text is the live map's own compiles nothing: a deploy that writes the file and
    // sends SIGHUP (or an editor's save in several steps) would otherwise compile the same map twice,
    // holding the event loop twice (~0.2 s each for 10,000 routes). SIGHUP always compiles: it also
    // re-reads the upstreams' `ca:` files, which no file event reports.
    const digest = textDigest(this.file)
    if (trigger === FILE_CHANGED && digest !== null && digest === this.#liveDigest) {
      this.#log.info({ reason: 'routes_unchanged', trigger, file: this.file }, 'route map file changed on disk but its text is the live map\'s: nothing to reload')
      return UNCHANGED
    }
    try {
      next = await this.#load(this.file)
    } catch (err) {
      if (err instanceof RouteMapError) {
        for (const issue of err.issues) {
          this.#log.error({ reason: 'routes_invalid', file: issue.file, line: issue.line, column: issue.column }, formatIssue(issue))
        }
        this.#outcome = 'rejected'
        this.#log.warn({ reason: 'routes_reload_rejected', trigger, file: this.file, problems: err.issues.length },
          'route map reload rejected: the current map stays live')
      } else {
        this.#log.error({ reason: 'routes_reload_failed', trigger, file: this.file, err }, 'route map reload failed: the current map stays live')
      }
      return false
    }
    const previous = this.#table
    this.#table = next
    this.#liveDigest = digest // read before the load: at worst a later event compiles once more
    // ms: from the reload's start (after the debounce) until the new map serves: read, check, compile
    const ms = Math.round(performance.now() - t0)
    // The line's version hashes the whole normalised map (~25 ms for 10,000 routes): requests waiting
    // since the compile began are served with the new map first, then the line, then the listeners
    // (the access diff), in that order.
    await afterNextPoll()
    this.#log.info({ reason: 'routes_reloaded', trigger, file: this.file, version: next.version, routes: next.routes.length, upstreams: next.upstreams.size, ms },
      'route map reloaded')
    for (const listener of this.#listeners) {
      try {
        listener(next, previous, trigger)
      } catch (err) {
        this.#log.error({ reason: 'routes_swap_listener_failed', err }, 'a route-swap listener threw')
      }
    }
    return true
  }
}

/** The trigger of a reload scheduled by a file event. */
const FILE_CHANGED = 'file changed'
/** #reloadNow's answer when a file event found the live map's text. */
const UNCHANGED = Symbol('unchanged')

/** SHA-256 of the file's bytes; null when it cannot be read (the load then reports why). */
function textDigest (file: string): string | null {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex')
  } catch {
    return null
  }
}

/**
 * Resolves after the event loop's next poll phase: a setImmediate queued now runs in this turn's check
 * phase, before any socket is read; the one it queues runs in the next turn's, after one.
 */
function afterNextPoll (): Promise<void> {
  return new Promise((resolve) => { setImmediate(() => { setImmediate(resolve) }) })
}

function realpathOrNull (file: string): string | null {
  try {
    return realpathSync(file)
  } catch {
    return null
  }
}
