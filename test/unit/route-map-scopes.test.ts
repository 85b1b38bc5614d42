// The route map's `scopes` section: scope descriptions for the consent page (README "Mobile clients").
import t from 'tap'
import { compileRouteMap } from '../../src/config/route-map-loader.js'

const base = `version: 1
upstreams:
  orders: { url: http://127.0.0.1:9001 }
routes:
  - path: /orders/*
    upstream: orders
    scopes: [orders:read]
`

t.test('descriptions are compiled into the table, hot-reloaded with it', async (t) => {
  const table = compileRouteMap(`${base}scopes:\n  orders:read: Read your orders\n  orders:write: Place and cancel orders\n`, 'routes.yaml')
  t.same([...table.scopeDescriptions ?? []], [['orders:read', 'Read your orders'], ['orders:write', 'Place and cancel orders']])
  t.same([...compileRouteMap(base, 'routes.yaml').scopeDescriptions ?? []], [], 'optional')
})

t.test('a bad scope name or description is a positioned route-map error', async (t) => {
  t.throws(() => compileRouteMap(`${base}scopes:\n  "bad scope": x\n`, 'routes.yaml'), /routes\.yaml:9:3 scopes: "bad scope" is not a scope token/)
  t.throws(() => compileRouteMap(`${base}scopes:\n  orders:read: ""\n`, 'routes.yaml'), /routes\.yaml:9:\d+ .*description of 1-200 characters/)
  t.throws(() => compileRouteMap(`${base}scopes: [orders:read]\n`, 'routes.yaml'), /mapping of scope names to descriptions/)
})
