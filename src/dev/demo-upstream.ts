// The demo upstream `npm start` runs beside the gateway when REDIS_URL is unset: it answers
// every request with what it received (method, path, the x-auth-* identity headers), so a
// newcomer can see exactly what an upstream service gets from Portcullis.
import { createServer, type Server } from 'node:http'

export function startDemoUpstream (port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const identity: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers)) {
      if (k.startsWith('x-auth-') && typeof v === 'string') identity[k] = v
    }
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ upstream: 'demo', method: req.method, path: req.url, identity }, null, 2) + '\n')
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}
