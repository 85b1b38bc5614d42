// `ca` and `tls_verify` of a route-map upstream (SECURITY.md H15): checked, and the CA bundle read and
// parsed at load time, relative to the route map.
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { BAD, label, type Checked, type Key, type SourceReporter } from './route-map-reporter.js'
import type { UpstreamTls } from './route-types.js'

/**
 * `ca` and `tls_verify` of an upstream (SECURITY.md H15): undefined for the default, certificates
 * verified against the system CAs. `ca` is read now, relative to the route map; a bad one is an issue.
 */
export function checkTls (r: SourceReporter, def: Record<string, unknown>, origin: string, at: Key[], file: string): Checked<UpstreamTls | undefined> {
  const { ca, tls_verify: verify } = def
  if (ca === undefined && verify === undefined) return undefined
  if ((ca !== undefined && typeof ca !== 'string') || (verify !== undefined && typeof verify !== 'boolean')) return BAD // schema
  if (!origin.startsWith('https:')) {
    const key = ca !== undefined ? 'ca' : 'tls_verify'
    r.at([...at, key], `${label([...at, key])}: applies to https: upstreams only`, 'key')
    return BAD
  }
  if (ca !== undefined && verify === false) {
    r.at([...at, 'tls_verify'], `${label([...at, 'tls_verify'])}: false would ignore ca; keep one of them`, 'key')
    return BAD
  }
  if (ca === undefined) return verify === false ? Object.freeze({ ca: undefined, caFile: undefined, verify: false }) : undefined
  const caFile = resolve(dirname(file), ca)
  const pem = readCaBundle(caFile)
  if (pem.problem !== undefined) {
    r.at([...at, 'ca'], `${label([...at, 'ca'])}: ${JSON.stringify(ca)} ${pem.problem}`)
    return BAD
  }
  return Object.freeze({ ca: pem.text, caFile, verify: true })
}

/** The certificates of a PEM bundle, each one parsed to be sure, or what is wrong with the file. */
function readCaBundle (path: string): { text: string, problem?: undefined } | { problem: string } {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : String(code)
    return { problem: `cannot be read: ${why} (${path})` }
  }
  const certs = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []
  if (certs.length === 0) return { problem: `holds no PEM certificate (${path})` }
  for (const pem of certs) {
    try {
      void new X509Certificate(pem)
    } catch {
      return { problem: `holds a certificate that cannot be parsed (${path})` }
    }
  }
  return { text: certs.join('\n') + '\n' }
}

export function sameTls (a: UpstreamTls | undefined, b: UpstreamTls | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.verify === b.verify && a.ca === b.ca)
}
