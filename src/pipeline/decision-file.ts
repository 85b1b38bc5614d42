// The decision log file (DECISION_LOG): one JSON line per edge decision. A request only appends its
// line to a batch in memory; batches go to a Node write stream when 64 KiB wait or 50 ms after the
// first line (one write per line cost ~25 µs of CPU per request, measured), so no request waits for
// the disk. Rotated by size:
// when a line would take the file past DECISION_LOG_MAX_BYTES, the file is renamed to FILE.1
// (replacing the previous FILE.1) and a new FILE is started, so it holds at most twice that much.
//
// Failures never fail a request: a file that cannot be opened at start stops the gateway (one
// line, exit 1); a write error later (disk full, file system gone) is logged once, the lines are
// dropped and counted, and the file is opened again every second until a line is written again.
import { createWriteStream, type WriteStream } from 'node:fs'
import { open, rename } from 'node:fs/promises'
import type { DecisionRecord } from './decision-log.js'

interface Log {
  info(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** Lines held in memory while the disk is behind (or during a rotation); beyond it they are dropped. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024
const RETRY_MS = 1000
/** Lines are handed to the file in batches: when this many bytes wait, or this long after the first. */
const BATCH_BYTES = 64 * 1024
const BATCH_MS = 50

export class DecisionLogOpenError extends Error {
  override readonly name = 'DecisionLogOpenError'
}

export class DecisionFile {
  readonly file: string
  readonly #maxBytes: number
  readonly #log: Log
  #stream: WriteStream | null = null
  /** Bytes in the current file, counting the lines handed to the stream. */
  #size = 0
  /** Lines written while the file is being rotated or reopened. */
  #queue: string[] = []
  #queued = 0
  /** Lines for the current file not yet handed to the stream: one write per event-loop turn. */
  #batch = ''
  #flushScheduled = false
  readonly #flushSoon = (): void => { this.#flushScheduled = false; this.#flush() }
  #reopening: Promise<void> | null = null
  #retry: NodeJS.Timeout | null = null
  /** A write failed and no line was written since: later errors are not logged again. */
  #failing = false
  #dropped = 0
  #closed = false

  private constructor (file: string, maxBytes: number, log: Log) {
    this.file = file
    this.#maxBytes = maxBytes
    this.#log = log
  }

  /** Opens (creates, appends to) the file; rejects with DecisionLogOpenError when it cannot. */
  static async open (file: string, opts: { maxBytes: number, log: Log }): Promise<DecisionFile> {
    const d = new DecisionFile(file, opts.maxBytes, opts.log)
    try {
      await d.#attach()
    } catch (err) {
      throw new DecisionLogOpenError(`cannot open DECISION_LOG=${file}: ${(err as Error).message}`)
    }
    return d
  }

  /** Queues one line; never throws, never waits. */
  write (record: DecisionRecord): void {
    if (this.#closed) return
    this.#line(`${JSON.stringify(record)}\n`)
  }

  #line (line: string): void {
    const len = Buffer.byteLength(line)
    const stream = this.#stream
    if (stream === null) {
      if (this.#reopening === null || this.#queued + len > MAX_PENDING_BYTES) {
        this.#dropped++
        return
      }
      this.#queue.push(line)
      this.#queued += len
      return
    }
    if (stream.writableLength + this.#batch.length + len > MAX_PENDING_BYTES) {
      this.#dropped++
      return
    }
    if (this.#size > 0 && this.#size + len > this.#maxBytes) {
      this.#flush()
      this.#rotate(stream)
      this.#line(line)
      return
    }
    this.#size += len
    this.#batch += line
    if (this.#batch.length >= BATCH_BYTES) {
      this.#flush()
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setTimeout(this.#flushSoon, BATCH_MS).unref()
    }
  }

  /** Hands the batch to the current stream (one write syscall for many requests under load). */
  #flush (): void {
    const batch = this.#batch
    if (batch === '') return
    this.#batch = ''
    const stream = this.#stream
    if (stream === null) return // the file failed meanwhile: counted by #failed
    if (this.#failing) {
      stream.write(batch, (err) => { if (err == null) this.#recovered() })
    } else {
      stream.write(batch)
    }
  }

  /** Opens the file for appending and makes it the current one. */
  async #attach (): Promise<void> {
    // subjects and client ids are personal data: readable by the gateway's user and group only
    const handle = await open(this.file, 'a', 0o640)
    try {
      this.#size = (await handle.stat()).size
    } catch (err) {
      await handle.close()
      throw err
    }
    const stream = createWriteStream(this.file, { fd: handle })
    stream.on('error', (err) => { this.#failed(stream, err) })
    this.#stream = stream
  }

  /** Ends the full file (its pending lines still reach it: the descriptor follows the rename). */
  #rotate (stream: WriteStream): void {
    this.#stream = null
    this.#reopen(async () => {
      stream.end()
      await rename(this.file, `${this.file}.1`)
    })
  }

  #failed (stream: WriteStream, err: Error): void {
    if (stream !== this.#stream) return
    this.#stream = null
    if (this.#batch !== '') this.#dropped += this.#batch.split('\n').length - 1
    this.#batch = ''
    stream.destroy()
    if (!this.#failing) {
      this.#failing = true
      this.#log.error({ file: this.file, code: (err as NodeJS.ErrnoException).code, err: err.message },
        'decision log: write failed; decisions are dropped until the file can be written again')
    }
    this.#scheduleRetry()
  }

  #recovered (): void {
    if (!this.#failing) return
    this.#failing = false
    this.#log.info({ file: this.file, dropped: this.#dropped }, 'decision log: writing again')
  }

  #scheduleRetry (): void {
    if (this.#closed || this.#retry !== null) return
    this.#retry = setTimeout(() => {
      this.#retry = null
      if (this.#stream === null && this.#reopening === null) this.#reopen(async () => {})
    }, RETRY_MS)
    this.#retry.unref()
  }

  /** Runs `before`, opens the file again, then writes what was queued meanwhile. */
  #reopen (before: () => Promise<void>): void {
    this.#reopening = (async () => {
      try {
        await before()
        if (this.#closed) return
        await this.#attach()
      } catch (err) {
        if (!this.#failing) {
          this.#failing = true
          this.#log.error({ file: this.file, code: (err as NodeJS.ErrnoException).code, err: (err as Error).message },
            'decision log: cannot reopen the file; decisions are dropped until it can be written again')
        }
        this.#dropped += this.#queue.length
        this.#queue = []
        this.#queued = 0
        this.#reopening = null
        this.#scheduleRetry()
        return
      }
      this.#reopening = null
      const queued = this.#queue
      this.#queue = []
      this.#queued = 0
      for (const line of queued) this.#line(line)
    })()
  }

  /** Lines dropped since start (write errors, a disk too slow for the traffic). */
  get dropped (): number {
    return this.#dropped
  }

  /** Writes out every queued line and closes the file. */
  async close (): Promise<void> {
    if (this.#retry !== null) clearTimeout(this.#retry)
    this.#retry = null
    await this.#reopening
    this.#flush()
    this.#closed = true
    const stream = this.#stream
    this.#stream = null
    if (stream === null || stream.destroyed) return
    await new Promise<void>((resolve) => {
      stream.once('close', resolve)
      stream.end()
    })
  }
}
