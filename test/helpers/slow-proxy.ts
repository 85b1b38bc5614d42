// A TCP proxy on loopback that adds latency to every chunk (both directions, order kept) or
// freezes (holds every byte until thawed), for "Redis slow" faults (security-catalogue §9:
// "a TCP proxy with injected latency"). Latency can change while connections are open.
import { connect, createServer, type Socket } from 'node:net'

export interface SlowProxy {
  port: number
  url: (scheme?: string) => string
  /** Delay added to every chunk from now on, in ms (each direction). */
  setLatency(ms: number): void
  /** Hold every byte (connections stay open, nothing passes) until thaw(). */
  freeze(): void
  thaw(): void
  /** Connections accepted so far. */
  readonly accepted: number
  close(): Promise<void>
}

/** A one-way pipe that delivers each chunk `latency()` ms after it arrived, never out of order. */
// One FIFO queue per direction and one timer draining it: chunks leave strictly in arrival order,
// also when timers fire late on a loaded machine (one timer per chunk, or delivering a chunk that is
// due at once while an earlier one still waits for its late timer, reorders the byte stream).
function delayedPipe (from: Socket, to: Socket, latency: () => number, frozen: () => boolean, held: Array<() => void>): void {
  const queue: Array<{ due: number, chunk: Buffer }> = []
  let timer: NodeJS.Timeout | null = null
  const drain = (): void => {
    timer = null
    if (frozen()) { held.push(drain); return }
    while (queue.length > 0 && queue[0]!.due <= Date.now()) {
      const { chunk } = queue.shift()!
      if (!to.destroyed) to.write(chunk)
    }
    if (queue.length > 0) timer = setTimeout(drain, queue[0]!.due - Date.now()).unref()
  }
  from.on('data', (chunk: Buffer) => {
    const last = queue.at(-1)?.due ?? 0
    queue.push({ due: Math.max(Date.now() + latency(), last), chunk })
    if (timer === null && !held.includes(drain)) drain()
  })
}

export async function startSlowProxy (targetPort: number, opts: { latencyMs?: number } = {}): Promise<SlowProxy> {
  let latency = opts.latencyMs ?? 0
  let frozen = false
  let accepted = 0
  const held: Array<() => void> = []
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    accepted++
    const upstream = connect(targetPort, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => { sockets.delete(s) })
      s.on('error', () => { client.destroy(); upstream.destroy() })
    }
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    delayedPipe(client, upstream, () => latency, () => frozen, held)
    delayedPipe(upstream, client, () => latency, () => frozen, held)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    port,
    url: (scheme = 'redis') => `${scheme}://127.0.0.1:${port}`,
    setLatency (ms) { latency = ms },
    freeze () { frozen = true },
    thaw () {
      frozen = false
      for (const deliver of held.splice(0)) deliver()
    },
    get accepted () { return accepted },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
