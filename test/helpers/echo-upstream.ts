// A real upstream on a loopback port that records every request it receives and answers with
// what it saw (request line, raw header names and values, body). Behaviours per path prefix let
// tests make it slow, reset the connection, or stream a body.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface SeenRequest {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  rawHeaders: string[]
  body: string
}

export interface EchoUpstream {
  url: string
  port: number
  seen: SeenRequest[]
  close(): Promise<void>
}

function readBody (req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

/**
 * Paths: `/slow/<ms>/...` waits before answering; `/reset/...` destroys the socket;
 * `/status/<code>/...` answers with that status; anything else echoes with 200.
 */
export async function startEchoUpstream (port = 0): Promise<EchoUpstream> {
  const seen: SeenRequest[] = []
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req)
      const entry: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body }
      seen.push(entry)
      const parts = (req.url ?? '').split('?', 1)[0]!.split('/')
      if (parts[1] === 'reset') { req.socket.destroy(); return }
      if (parts[1] === 'slow') await new Promise((resolve) => setTimeout(resolve, Number(parts[2])))
      const status = parts[1] === 'status' ? Number(parts[2]) : 200
      if (res.destroyed) return
      res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': 'echo' })
      res.end(JSON.stringify(entry))
    })()
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const addr = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${addr.port}`,
    port: addr.port,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
