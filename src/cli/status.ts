// `portcullis status [--url http://HOST:PORT] [--json]`: reads /admin/status of a running instance
// (default: the admin listener ADMIN_HOST and ADMIN_PORT name) and prints it. With ADMIN_TOKEN set it
// is sent as the bearer token (ADMIN_AUTH=required). Unreachable, refused or not a status: one line on
// stderr, exit 1; a bad --url or ADMIN_PORT=0 without --url: exit 2.
import { Command } from 'commander'
import type { AdminStatus } from '../admin/status.js'
import { CliError, EXIT_USAGE, action, cliConventions, output } from './common.js'

/** Seconds to wait for the instance before calling it unreachable. */
const TIMEOUT_MS = 5000

function defaultUrl (env: NodeJS.ProcessEnv): string {
  const port = env.ADMIN_PORT === undefined || env.ADMIN_PORT === '' ? '9090' : env.ADMIN_PORT
  if (!/^[0-9]{1,5}$/.test(port)) throw new CliError(`ADMIN_PORT=${JSON.stringify(port)} must be a whole number`, EXIT_USAGE)
  if (port === '0') throw new CliError('the admin listener is off (ADMIN_PORT=0): pass --url http://HOST:PORT', EXIT_USAGE)
  const host = env.ADMIN_HOST === undefined || env.ADMIN_HOST === '' ? '127.0.0.1' : env.ADMIN_HOST
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

function statusUrl (base: string): URL {
  let url: URL
  try {
    url = new URL(base)
  } catch {
    throw new CliError(`--url ${JSON.stringify(base)} is not a URL (expected http://HOST:PORT)`, EXIT_USAGE)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--url must be http:// or https://, got ${url.protocol}`, EXIT_USAGE)
  return new URL('/admin/status', url)
}

function text (s: AdminStatus): string[] {
  return [
    `route map   ${s.route_map_version} (${s.routes} routes)`,
    `store       ${s.store.mode}, ${s.store.healthy ? 'healthy' : 'NOT ANSWERING'}, epoch ${s.store.epoch}`,
    `revocation  ${s.revocation.mode}${s.revocation.mode === 'replicated' ? `, view ${s.revocation.live ? 'live' : 'down (checking per request)'}, feed lag ${s.revocation.feed_lag_seconds} s` : ''}`,
    `keys        signing ${s.signing_keys.signing ?? '(not loaded)'}; published ${s.signing_keys.published.join(' ') || '(none)'}`,
    `uptime      ${s.uptime_seconds} s`,
    `version     ${s.package_version}`
  ]
}

async function fetchStatus (url: URL, token: string | undefined): Promise<AdminStatus> {
  let res: Response
  try {
    res = await fetch(url, {
      headers: token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(TIMEOUT_MS)
    })
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name
    throw new CliError(`cannot reach ${url.origin}: ${cause}`)
  }
  const body = await res.text()
  let parsed: unknown
  try { parsed = JSON.parse(body) } catch { parsed = null }
  if (res.status !== 200) {
    const e = parsed as { error?: unknown, error_description?: unknown } | null
    const why = typeof e?.error === 'string' ? `${e.error}: ${String(e.error_description)}` : `HTTP ${res.status}`
    const hint = res.status === 401 && (token === undefined || token === '') ? ' (set ADMIN_TOKEN to a token with scope portcullis:admin)' : ''
    throw new CliError(`${url.origin} refused: ${res.status} ${why}${hint}`)
  }
  const status = parsed as Partial<AdminStatus> | null
  if (typeof status?.route_map_version !== 'string') throw new CliError(`${url.origin} answered something that is not a Portcullis status`)
  return status as AdminStatus
}

export function statusCommand (): Command {
  const status = new Command('status')
    .description("show a running instance's /admin/status: route-map version, store, revocation, keys, uptime, version")
    .option('--url <url>', 'admin listener of the instance (default: http://$ADMIN_HOST:$ADMIN_PORT)')
    .option('--json', 'print JSON')
    .action(action(async (opts: { url?: string, json?: boolean }) => {
      const url = statusUrl(opts.url ?? defaultUrl(process.env))
      const s = await fetchStatus(url, process.env.ADMIN_TOKEN)
      output(opts.json, s, () => text(s))
    }))
  return cliConventions(status)
}
