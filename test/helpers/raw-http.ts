// Sends exact bytes over TCP, so nothing between the test and the gateway normalises the
// request line or header names (security-catalogue §9). Reads until the server closes.
import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  raw: string
}

export function rawRequest (port: number, request: string, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('raw request timed out')) }, timeoutMs)
    socket.on('data', (c) => chunks.push(c))
    socket.on('error', (err) => { clearTimeout(timer); reject(err) })
    socket.on('close', () => {
      clearTimeout(timer)
      const raw = Buffer.concat(chunks).toString('latin1')
      const [head = '', ...rest] = raw.split('\r\n\r\n')
      const lines = head.split('\r\n')
      const status = Number(lines[0]?.split(' ')[1] ?? 0)
      const headers: Record<string, string> = {}
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':')
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim()
      }
      let body = rest.join('\r\n\r\n')
      if (headers['transfer-encoding'] === 'chunked') body = dechunk(body)
      resolve({ status, headers, body, raw })
    })
    socket.write(request)
  })
}

function dechunk (s: string): string {
  let out = ''
  let i = 0
  while (i < s.length) {
    const eol = s.indexOf('\r\n', i)
    if (eol < 0) break
    const size = parseInt(s.slice(i, eol), 16)
    if (!size) break
    out += s.slice(eol + 2, eol + 2 + size)
    i = eol + 2 + size + 2
  }
  return out
}
