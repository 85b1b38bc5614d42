// The route maps of `npm run bench` (b): /orders/* plus `extra` generated routes, a realistic mix of
// static, :param and wildcard paths, each with a scope and a rate limit; the last one is the reload probe.
export const BENCH_SCOPE = 'orders:read'
export const BENCH_RATE_LIMIT = 1_000_000_000

/** `ordersRateLimit: false`: `/orders/*` without its rate_limit (BENCH_RATE_LIMIT=0, to profile the rest of the path). */
export function routesYaml (upstreamPort: number, extra: number, opts: { ordersRateLimit?: boolean } = {}): string {
  const lines = [
    'version: 1',
    'upstreams:',
    `  api: { url: "http://127.0.0.1:${upstreamPort}", timeout: 5s }`,
    'routes:',
    '  - path: /orders/*',
    '    methods: [GET, HEAD]',
    '    upstream: api',
    `    scopes: [${BENCH_SCOPE}]`,
    ...(opts.ordersRateLimit === false ? [] : [`    rate_limit: { limit: ${BENCH_RATE_LIMIT}, window: 1m, by: subject }`])
  ]
  for (let i = 0; i < extra; i++) {
    const shape = i % 3
    const path = shape === 0 ? `/svc${i}/*` : shape === 1 ? `/svc${i}/items/:id` : `/svc${i}/v1/status`
    lines.push(`  - path: ${path}`, '    upstream: api', `    scopes: [svc${i}:read]`, `    rate_limit: { limit: ${BENCH_RATE_LIMIT}, window: 1m, by: subject }`)
  }
  return lines.join('\n') + '\n'
}

/** A path that only the map with `extra` generated routes (or more) serves. */
export function probePath (extra: number): string {
  const i = extra - 1
  const shape = i % 3
  return shape === 0 ? `/svc${i}/x` : shape === 1 ? `/svc${i}/items/1` : `/svc${i}/v1/status`
}
