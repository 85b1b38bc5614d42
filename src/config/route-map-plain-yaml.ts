// The quickest path of the route-map loader (issue 10, reload of 10,000 routes within 300 ms): a
// line reader for the plain subset of YAML that route maps are written in (block mappings and
// sequences, one-line flow collections, plain and simply quoted scalars, comments). It reads what
// `yaml` (YAML 1.2, core schema; the exact path) reads, or gives up (undefined) and js-yaml, then
// `yaml`, read the text instead. It gives up on anything outside that subset:
// - tabs, carriage returns, control characters, a byte-order mark, U+2028/U+2029 anywhere;
// - keys that are not plain words (quoted, numeric, null or boolean, `__proto__`, `<<`), duplicate keys;
// - anchors, aliases, tags, directives, document markers, block scalars (`|`, `>`), explicit keys;
// - a scalar or flow collection continued on the next line, nested flow collections, escapes (`\`,
//   `''`) in quoted scalars, plain scalars starting with an indicator character or holding `: `;
// - indentation other than the one each block started with;
// - plain scalars YAML 1.2 reads as numbers other than plain decimal integers (as the js-yaml path).
// Per line, the work is a few native regular-expression matches: a fresh process reads the bench's
// 10,000-route map about twice as fast as js-yaml does, the first time (bench/README.md, "Reload").

// sticky: matched at a line's content column
const PLAIN_KEY = /([A-Za-z_][A-Za-z0-9_./-]*(?::[A-Za-z0-9_./-]+)*):(?: +(.*))?$/y
const NOT_A_STRING_KEY = /^(?:[Nn]ull|NULL|[Tt]rue|TRUE|[Ff]alse|FALSE|__proto__)$/
// a plain scalar may not start with an indicator character (YAML 1.2 §7.3.3); `-`, `?` and `:` may
// when followed by a safe character, but those are left to the other readers
const INDICATOR_FIRST = /^[-?:,[\]{}#&*!|>'"%@`]/
const DOUBLE_QUOTED = /^"([^"\\]*)"(?: +#.*| *)$/
const SINGLE_QUOTED = /^'([^']*)'(?: +#.*| *)$/
// after a flow collection: nothing, or a comment (YAML 1.2 §6.6: `#` needs white space before it)
const FLOW_END = /^(?: +#.*| *)$/
const EMPTY_FLOW = /^. *([\]}])(.*)$/
// one item of a one-line flow collection: an optional plain key, then a quoted or plain scalar
const FLOW_ITEM = / *(?:([A-Za-z_][A-Za-z0-9_./-]*(?::[A-Za-z0-9_./-]+)*): +)?("[^"\\]*"|'[^']*'|[^ ,[\]{}#"'?:!&*|>%@`-][^,[\]{}#"']*?) *(,|[\]}])/y
const OUTSIDE_SUBSET = /[^\n\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]/
// Plain scalars as YAML 1.2's core schema resolves them (yaml's own tests), for both fast readers
// (route-map-fast-parse.ts gives js-yaml the same): null (~, null, empty), booleans, the decimal
// integers a double holds exactly, and every other plain scalar the core schema reads as a number,
// which both readers leave to `yaml`.
export const CORE_NULL = /^(?:~|[Nn]ull|NULL)?$/
export const CORE_BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/
export const CORE_DECIMAL = /^(?:0|[1-9][0-9]{0,14})$/
export const CORE_OTHER_NUMBER = /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$/

class OutsideSubset extends Error {}
const GIVE_UP = new OutsideSubset()
const giveUp = (): never => { throw GIVE_UP }

/** The data of `text` when it is in the plain subset (see above), else undefined. */
export function readPlainYaml (text: string): unknown {
  if (OUTSIDE_SUBSET.test(text)) return undefined
  try {
    const r = new LineReader(text.split('\n'))
    if (r.next() === -1) return undefined
    const data = r.node(r.indent[r.at]!)
    // a line no block took: less indented than the first line, or a continuation (more indented
    // than its block, as a multi-line scalar): every block reads only lines at its own indentation
    if (r.next() !== -1) return undefined
    return data
  } catch (err) {
    if (err === GIVE_UP) return undefined
    throw err
  }
}

class LineReader {
  /** Per line, the column where its content starts (a sequence item's: where the item's content starts, once read); -1: blank or a comment. */
  readonly indent: number[] = []
  at = 0
  constructor (readonly lines: string[]) {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!
      let n = 0
      while (line.charCodeAt(n) === 32) n++
      this.indent.push(n === line.length || line.charCodeAt(n) === 35 ? -1 : n)
    }
  }

  /** Moves to the next line that holds something; its indentation, or -1 at the end. */
  next (): number {
    while (this.at < this.lines.length && this.indent[this.at] === -1) this.at++
    return this.at < this.lines.length ? this.indent[this.at]! : -1
  }

  /** Whether the current line is a sequence item at column `ind`. */
  item (ind: number): boolean {
    const line = this.lines[this.at]!
    return line.charCodeAt(ind) === 45 && (line.length === ind + 1 || line.charCodeAt(ind + 1) === 32)
  }

  /** The block node starting at the current line, indented by `ind`. */
  node (ind: number): unknown {
    return this.item(ind) ? this.sequence(ind) : this.mapping(ind)
  }

  sequence (ind: number): unknown[] {
    const out: unknown[] = []
    while (this.next() === ind && this.item(ind)) {
      const line = this.lines[this.at]!
      let col = ind + 1
      while (line.charCodeAt(col) === 32) col++
      PLAIN_KEY.lastIndex = col
      if (PLAIN_KEY.test(line)) { // a mapping starting on the item's line, at the column of its key
        this.indent[this.at] = col
        out.push(this.mapping(col))
      } else {
        out.push(scalarOrFlow(line.slice(col))) // an empty, nested (`- - x`) or commented item starts with an indicator: gives up
        this.at++
      }
    }
    return out
  }

  mapping (ind: number): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (let at = this.next(); at === ind; at = this.next()) {
      PLAIN_KEY.lastIndex = ind
      const m = PLAIN_KEY.exec(this.lines[this.at]!) ?? giveUp()
      const key = m[1]!
      if (NOT_A_STRING_KEY.test(key) || Object.hasOwn(out, key)) giveUp()
      const rest = m[2] ?? ''
      this.at++
      if (rest !== '' && rest.charCodeAt(0) !== 35) {
        out[key] = scalarOrFlow(rest)
        continue
      }
      const below = this.next()
      // a block below the key, or a sequence at the key's own indentation (YAML 1.2 §8.2.1)
      out[key] = below > ind || (below === ind && this.item(ind)) ? this.node(below) : null
    }
    return out
  }
}

/** A value on a key's or item's line: a one-line flow collection or a scalar. */
function scalarOrFlow (text: string): unknown {
  const c = text.charCodeAt(0)
  if (c === 91 || c === 123) return flow(text) // [ {
  if (c === 34) return (DOUBLE_QUOTED.exec(text) ?? giveUp())[1]
  if (c === 39) return (SINGLE_QUOTED.exec(text) ?? giveUp())[1]
  if (INDICATOR_FIRST.test(text)) giveUp()
  const hash = text.indexOf(' #')
  return plain((hash === -1 ? text : text.slice(0, hash)).trimEnd())
}

function flow (text: string): unknown[] | Record<string, unknown> {
  const isMap = text.charCodeAt(0) === 123
  const close = isMap ? '}' : ']'
  const out: unknown[] = []; const map: Record<string, unknown> = {}
  const empty = EMPTY_FLOW.exec(text)
  if (empty !== null) {
    if (empty[1] !== close || !FLOW_END.test(empty[2]!)) giveUp()
    return isMap ? map : out
  }
  FLOW_ITEM.lastIndex = 1
  for (;;) {
    const m = FLOW_ITEM.exec(text) ?? giveUp()
    const key = m[1]; const value = m[2]!; const end = m[3]!
    const v = value.charCodeAt(0) === 34 || value.charCodeAt(0) === 39 ? value.slice(1, -1) : plain(value)
    if (isMap) {
      if (key === undefined || NOT_A_STRING_KEY.test(key) || Object.hasOwn(map, key)) return giveUp()
      map[key] = v
    } else {
      if (key !== undefined) giveUp() // a single-pair mapping inside a sequence
      out.push(v)
    }
    if (end === ',') continue
    if (end !== close || !FLOW_END.test(text.slice(FLOW_ITEM.lastIndex))) giveUp()
    return isMap ? map : out
  }
}

/** A plain scalar as YAML 1.2's core schema resolves it. */
function plain (s: string): unknown {
  if (s === '' || s.includes(': ') || s.endsWith(':')) giveUp()
  if (CORE_NULL.test(s)) return null
  if (CORE_BOOL.test(s)) return s.charCodeAt(0) === 116 || s.charCodeAt(0) === 84 // t T
  if (CORE_DECIMAL.test(s)) return Number(s)
  if (CORE_OTHER_NUMBER.test(s)) giveUp()
  return s
}
