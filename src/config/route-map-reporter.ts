// Issues of a route map at FILE:LINE:COLUMN: a path of keys/indexes in the `yaml` document is turned
// into the position of its key or value (or the nearest enclosing node), and schema errors into messages.
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Settings } from 'typebox/system'
import { Value } from 'typebox/value'
import { type Document, type LineCounter, isAlias, isMap, isScalar, isSeq } from 'yaml'
import { isUnionMemberError, oneOfMessage } from './schema-values.js'
import type { RouteMapIssue } from './route-types.js'

/** A value already reported as invalid: checks that depend on it are skipped, not repeated. */
export const BAD = Symbol('invalid')
export type Checked<T> = T | typeof BAD

export type Key = string | number

export function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `routes[0].methods[1]` for ['routes', 0, 'methods', 1]. */
export function label (path: readonly Key[]): string {
  if (path.length === 0) return 'the route map'
  return path.map((k, i) => typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`).join('')
}

export function describe (v: unknown): string {
  if (Array.isArray(v)) return 'a list'
  if (isRecord(v)) return 'a mapping'
  if (v === null) return 'nothing'
  const text = JSON.stringify(v)
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

interface SchemaError { keyword: string, instancePath: string, schemaPath: string, params: Record<string, unknown>, message: string }

export class SourceReporter {
  readonly issues: RouteMapIssue[] = []
  constructor (readonly file: string, readonly doc: Document, readonly lines: LineCounter) {}

  /** Reports at the node for `path` (its key with where='key'), or the nearest enclosing node. */
  at (path: readonly Key[], message: string, where: 'key' | 'value' = 'value'): void {
    this.atOffset(this.#offset(path, where), message)
  }

  atOffset (offset: number, message: string): void {
    const { line, col } = this.lines.linePos(offset)
    this.issues.push({ file: this.file, line: Math.max(1, line), column: Math.max(1, col), message })
  }

  lineOf (path: readonly Key[]): number {
    return Math.max(1, this.lines.linePos(this.#offset(path, 'value')).line)
  }

  /** Validates `value` (found at `base`) against a schema, reporting each error; returns whether valid. */
  schema (schema: TSchema, value: unknown, base: readonly Key[]): boolean {
    if (checker(schema).Check(value)) return true // compiled: fast on big valid maps
    const errors = allErrors(schema, value)
    for (const e of errors) {
      const path = [...base, ...pointerPath(e.instancePath, value)]
      if (e.keyword === 'boolean') continue // an unknown key: also reported as additionalProperties
      if (e.keyword === 'additionalProperties') {
        const allowed = Object.keys((schemaAt(schema, e.schemaPath)?.properties ?? {}) as object)
        for (const name of e.params.additionalProperties as string[]) {
          this.at([...path, name], `${label([...path, name])}: unknown key (expected one of ${allowed.join(', ')})`, 'key')
        }
      } else if (e.keyword === 'required') {
        for (const name of e.params.requiredProperties as string[]) {
          this.at(path, `${label(path)}: missing required key "${name}"`)
        }
      } else {
        if (isUnionMemberError(e, (p) => schemaAt(schema, p))) continue // the union's own error names every value
        const node = schemaAt(schema, e.schemaPath)
        const own = node?.errorMessage
        const got = valueAt(value, path.slice(base.length))
        this.at(path, `${label(path)}: ${typeof own === 'string' ? own : oneOfMessage(node) ?? e.message}, got ${describe(got)}`)
      }
    }
    return errors.length === 0
  }

  /** Issues sorted by position, exact duplicates dropped. */
  sorted (): RouteMapIssue[] {
    const unique = new Map(this.issues.map((i) => [`${i.line}:${i.column} ${i.message}`, i]))
    return [...unique.values()].sort((a, b) => a.line - b.line || a.column - b.column)
  }

  #offset (path: readonly Key[], where: 'key' | 'value'): number {
    let node: unknown = this.doc.contents
    let offset = startOf(node) ?? 0
    for (const [i, key] of path.entries()) {
      if (isAlias(node)) node = node.resolve(this.doc)
      let next: unknown
      if (isMap(node)) {
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(key))
        if (pair === undefined) break
        const last = i === path.length - 1
        if ((last && where === 'key') || pair.value == null) return startOf(pair.key) ?? offset
        next = pair.value
      } else if (isSeq(node)) {
        next = node.items[Number(key)]
      }
      const start = startOf(next)
      if (start === undefined) break
      node = next
      offset = start
    }
    return offset
  }
}

const checkers = new Map<TSchema, ReturnType<typeof Compile>>()
function checker (schema: TSchema): ReturnType<typeof Compile> {
  let c = checkers.get(schema)
  if (c === undefined) checkers.set(schema, c = Compile(schema))
  return c
}

/** Every schema error, not TypeBox's default first 8 (the global limit is restored at once). */
function allErrors (schema: TSchema, value: unknown): SchemaError[] {
  const previous = Settings.Get().maxErrors
  Settings.Set({ maxErrors: 10_000 })
  try {
    return Value.Errors(schema, value) as unknown as SchemaError[]
  } finally {
    Settings.Set({ maxErrors: previous })
  }
}

function startOf (node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range
  return range?.[0]
}

/** JSON pointer -> keys, numbers where the data is a list. */
function pointerPath (pointer: string, data: unknown): Key[] {
  if (pointer === '') return []
  const out: Key[] = []
  let cur = data
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    const k: Key = Array.isArray(cur) ? Number(key) : key
    out.push(k)
    cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<Key, unknown>)[k] : undefined
  }
  return out
}

function valueAt (data: unknown, path: readonly Key[]): unknown {
  let cur = data
  for (const k of path) cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<Key, unknown>)[k] : undefined
  return cur
}

/** The sub-schema at a schemaPath like `#/properties/routes/items`. */
function schemaAt (schema: TSchema, schemaPath: string): Record<string, unknown> | undefined {
  let cur: unknown = schema
  for (const raw of schemaPath.replace(/^#\/?/, '').split('/')) {
    if (raw === '') continue
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<string, unknown>)[key] : undefined
  }
  return isRecord(cur) ? cur : undefined
}
