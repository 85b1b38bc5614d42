// The benchmark's upstream: the smallest useful HTTP/1.1 server on node:http. It answers every
// request with a 2-byte body and echoes the identity header it received as `x-seen-subject`, so
// the orchestrator can check that a gateway really forwarded the authenticated subject.
// Usage: node --import tsx bench/upstream.ts PORT
import { createServer } from 'node:http'

const port = Number(process.argv[2] ?? 0)
const BODY = Buffer.from('ok')

const server = createServer((req, res) => {
  const subject = req.headers['x-auth-subject']
  const headers: Record<string, string | number> = { 'content-type': 'text/plain', 'content-length': BODY.length }
  if (typeof subject === 'string') headers['x-seen-subject'] = subject
  res.writeHead(200, headers)
  res.end(BODY)
  req.resume()
})
server.keepAliveTimeout = 65_000
server.listen(port, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`upstream listening on ${typeof address === 'object' && address !== null ? address.port : port}\n`)
})
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
