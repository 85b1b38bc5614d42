// What `portcullis dev` (npm start) adds when REDIS_URL is unset, so a newcomer can try every flow
// of README "Running it" as printed: demo accounts in the memory store, the bundled routes.yaml
// pointed at the demo upstream's actual port, and hints on what to try. Never used by `serve`.
import type { CompileOptions } from '../config/route-map-loader.js'
import { addClient, addUser } from '../oauth/accounts.js'
import { hashSecret } from '../oauth/passwords.js'
import type { Store } from '../store/types.js'

/** The demo upstream's default port: the one the bundled routes.yaml names. */
export const DEMO_UPSTREAM_DEFAULT_PORT = 9001
const BUNDLED_DEMO_ORIGIN = `http://127.0.0.1:${DEMO_UPSTREAM_DEFAULT_PORT}`

/**
 * Well known on purpose: they exist only in a dev-mode memory store, which dies with the process.
 * `demo-service` is confidential (client_credentials, RFC 6749 §4.4), so introspection (RFC 7662 §2.1
 * needs client authentication) can be tried with its own tokens.
 */
export const DEMO = {
  user: 'demo',
  password: 'demo-password',
  client: 'demo-app',
  /** RFC 8252 §7.3: loopback, so any port matches (README "Mobile clients" quick start). */
  clientRedirectUri: 'http://127.0.0.1/callback',
  scopes: 'orders:read orders:write',
  service: 'demo-service',
  serviceSecret: 'demo-service-secret',
  serviceScopes: 'orders:read'
} as const

/**
 * Adds the demo user, the public client and the confidential client. The public client has the
 * authorization code (README "Mobile clients") and the password grant ("Try it").
 */
export async function seedDemoAccounts (store: Store, cost: number): Promise<void> {
  await addUser(store, { name: DEMO.user, password: DEMO.password, scopes: DEMO.scopes, cost })
  await addClient(store, { id: DEMO.client, grants: 'authorization_code password refresh_token', scopes: DEMO.scopes, public: true, redirectUris: [DEMO.clientRedirectUri], cost })
  // addClient draws a random secret; the demo one is fixed so README examples work as written
  const created = await store.putClient({
    id: DEMO.service,
    secretHash: await hashSecret(DEMO.serviceSecret, cost),
    grants: ['client_credentials'],
    scopes: DEMO.serviceScopes.split(' '),
    disabled: false,
    createdAt: Math.floor(Date.now() / 1000)
  }, { ifAbsent: true })
  if (!created) throw new Error(`client ${DEMO.service} already exists`)
}

/**
 * The bundled routes.yaml sends its upstreams to 127.0.0.1:9001; when the demo upstream runs on
 * another DEMO_UPSTREAM_PORT, that origin (and only that one) is moved to it, at start and on every
 * reload. Undefined when there is nothing to move.
 */
export function demoRouteMapOptions (demoPort: number): CompileOptions | undefined {
  if (demoPort === DEMO_UPSTREAM_DEFAULT_PORT) return undefined
  const moved = `http://127.0.0.1:${demoPort}`
  return { upstreamOrigin: (origin) => origin === BUNDLED_DEMO_ORIGIN ? moved : origin }
}

export function devHints (url: string, demoPort: number): string {
  const moved = demoPort === DEMO_UPSTREAM_DEFAULT_PORT
    ? ''
    : ` (DEMO_UPSTREAM_PORT: route-map upstreams at ${BUNDLED_DEMO_ORIGIN} are sent there)`
  const token = 'node -pe \'JSON.parse(fs.readFileSync(0)).access_token\''
  return `
Portcullis is running at ${url} (dev mode: in-memory store, demo upstream on 127.0.0.1:${demoPort}${moved})
Demo accounts: user "${DEMO.user}" / password "${DEMO.password}", public client "${DEMO.client}"
(authorization code + PKCE with redirect URI ${DEMO.clientRedirectUri} on any port, README "Mobile clients"; password),
confidential client "${DEMO.service}" / secret "${DEMO.serviceSecret}" (client_credentials, ${DEMO.serviceScopes}).

Try:
  curl -s ${url}/catalog/items                 # public route, forwarded to the demo upstream
  curl -si ${url}/orders/42                    # protected route: 401 without a token
  TOKEN=$(curl -s ${url}/oauth/token -d grant_type=password -d client_id=${DEMO.client} \\
          -d username=${DEMO.user} -d password=${DEMO.password} -d scope=orders:read | ${token})
  curl -s ${url}/orders/42 -H "Authorization: Bearer $TOKEN"   # the upstream echoes the x-auth-* headers it got
  SERVICE_TOKEN=$(curl -s -u ${DEMO.service}:${DEMO.serviceSecret} ${url}/oauth/token -d grant_type=client_credentials | ${token})
  curl -s -u ${DEMO.service}:${DEMO.serviceSecret} ${url}/oauth/introspect -d token="$SERVICE_TOKEN"   # {"active":true,…}
  curl -s ${url}/.well-known/oauth-authorization-server

Stop with Ctrl-C. README.md covers the route map, the token flows and configuration.
`
}
