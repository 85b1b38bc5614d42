// Reading route maps and the registry for `portcullis routes diff | check --registry` and `access`.
import type { Registry } from '../access/registry.js'
import { RouteMapError, formatIssue, type RouteTable } from '../config/route-types.js'
import { CliError, EXIT_FAILURE, output, withStore } from './common.js'

/** Whether REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES names a store (empty counts as unset, as in the environment schema). */
export function hasRedisUrl (env: NodeJS.ProcessEnv = process.env): boolean {
  return ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].some((k) => env[k] !== undefined && env[k] !== '')
}

/** Every client and user in the store at REDIS_URL (ids, scopes, disabled; never a hash). */
export async function readRegistry (): Promise<Registry> {
  const { registryOf } = await import('../access/registry.js')
  return await withStore(async (store) => registryOf(await store.listClients(), await store.listUsers()))
}

/**
 * Loads route maps; when any has problems, prints every one as `FILE:LINE:COLUMN message` (on stderr,
 * or as JSON on stdout with --json), sets `exitCode` and resolves null.
 */
export async function loadMaps (files: readonly string[], json: boolean | undefined, exitCode = EXIT_FAILURE): Promise<RouteTable[] | null> {
  // the loader (TypeBox, two YAML parsers, the router) loads only when a map is read
  const { loadRouteTable } = await import('../config/route-map-loader.js')
  const results = await Promise.allSettled(files.map(async (f) => await loadRouteTable(f)))
  const issues = results.flatMap((r) => r.status === 'rejected' && r.reason instanceof RouteMapError ? r.reason.issues : [])
  const other = results.find((r) => r.status === 'rejected' && !(r.reason instanceof RouteMapError))
  if (other !== undefined) throw (other as PromiseRejectedResult).reason
  if (issues.length === 0) return results.map((r) => (r as PromiseFulfilledResult<RouteTable>).value)
  process.exitCode = exitCode
  if (json === true) output(true, { ok: false, errors: issues }, () => [])
  else process.stderr.write(issues.map((i) => `${formatIssue(i)}\n`).join(''))
  return null
}

/** Runs `fn`; any failure becomes a CliError with `exitCode` (routes diff: 2, never a verdict code). */
export async function failingWith<T> (exitCode: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof CliError) throw new CliError(err.message, exitCode)
    const name = err instanceof Error ? err.name : ''
    const message = err instanceof Error ? err.message : String(err)
    throw new CliError(name === 'StoreUnavailableError' ? `store unavailable: ${message}` : message, exitCode)
  }
}
