// Route path grammar of routes.yaml (README "routes.yaml"): parsed without TypeBox, so the modules that
// only need paths (the access diff, the CLI) do not load the schema library at start-up.
export type PathSegment =
  | { readonly kind: 'static', readonly value: string }
  | { readonly kind: 'param', readonly name: string }

/** A parsed route path: segments after the leading `/`, and whether a last `/*` follows them. */
export interface RoutePattern {
  readonly segments: readonly PathSegment[]
  readonly wildcard: boolean
}

// RFC 3986 pchar without pct-encoded and without '*' (reserved for the wildcard)
const STATIC_SEGMENT = /^[A-Za-z0-9\-._~!$&'()+,;=:@]+$/
const PARAM_SEGMENT = /^:([A-Za-z_][A-Za-z0-9_]*)$/

/**
 * Parses a route path, or returns what is wrong with it (a sentence fragment).
 * Grammar: `/` or `/seg(/seg)*` with seg one of: a static pchar run, `:name` (a whole segment),
 * `*` (only as the whole last segment). No empty, `.` or `..` segments; no trailing slash but the root.
 */
export function parseRoutePath (path: string): RoutePattern | string {
  if (!path.startsWith('/')) return 'must start with "/"'
  if (path === '/') return { segments: [], wildcard: false }
  if (path.endsWith('/')) return 'must not end with "/" (write /prefix/* to match below a prefix)'
  const parts = path.slice(1).split('/')
  const segments: PathSegment[] = []
  let names: Set<string> | null = null // most paths have no parameter
  let wildcard = false
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    if (part === '') return 'must not contain empty segments ("//")'
    if (part === '.' || part === '..') return 'must not contain "." or ".." segments'
    if (part.includes('*')) {
      if (part !== '*' || i !== parts.length - 1) return 'may use "*" only as the whole last segment'
      wildcard = true
    } else if (part.charCodeAt(0) === 58) { // ':'
      const name = PARAM_SEGMENT.exec(part)?.[1]
      if (name === undefined) return `has a bad parameter "${part}" (use :name, name of letters, digits and _)`
      names ??= new Set()
      if (names.has(name)) return `uses the parameter :${name} twice`
      names.add(name)
      segments.push({ kind: 'param', name })
    } else if (STATIC_SEGMENT.test(part)) {
      segments.push({ kind: 'static', value: part })
    } else {
      return `has a segment "${part}" with characters other than letters, digits and - . _ ~ ! $ & ' ( ) + , ; = : @`
    }
  }
  return { segments, wildcard }
}
