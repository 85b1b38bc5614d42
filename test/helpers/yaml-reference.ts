// The reference reading of route-map YAML: what the loader's exact path (`yaml`, YAML 1.2 core) reads.
import { parseDocument } from 'yaml'

/** What the exact path reads, or 'error' when `yaml` reports a problem. */
export function exactYaml (text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) return 'error'
  try { return doc.toJS({ maxAliasCount: 100 }) } catch { return 'error' }
}
