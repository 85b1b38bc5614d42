// The fast path of the route-map loader (issue 6): the line reader (route-map-plain-yaml.ts) for the
// plain subset maps are written in, else js-yaml without positions, each taken only for text it
// provably reads as `yaml` does; any issue at all sends the map back to the exact, positional path.
import { FAILSAFE_SCHEMA, Type as YamlType, load as loadYaml, type State as YamlState } from 'js-yaml'
import { Document, LineCounter } from 'yaml'
import { CORE_BOOL, CORE_DECIMAL, CORE_NULL, CORE_OTHER_NUMBER, readPlainYaml } from './route-map-plain-yaml.js'
import { SourceReporter } from './route-map-reporter.js'

// --- the fast path: js-yaml, no positions (issue 6: a 10,000-route map in well under 300 ms)
//
// `yaml` (YAML 1.2, core schema) stays the reference: the fast path is taken only for text where
// js-yaml provably reads the same data, and it only ever *accepts* a map. Any issue at all (a
// reporter call) throws NEEDS_POSITIONS and the exact path re-parses with `yaml` for positions,
// so every error message stays exactly what it was. The fast path gives up (undefined) on:
// - directives (`%YAML 1.1` would turn `yes`/`on` into booleans), anchors and aliases (alias
//   limits), explicit `?` keys and flow collections used as keys (stringified differently);
// - plain scalars `yaml` reads as numbers other than plain decimal integers (octal, hex, floats,
//   .inf, .nan, leading zeros or signs);
// - anything js-yaml refuses (duplicate keys, unknown tags, several documents, syntax).
// Plain scalars are otherwise resolved exactly as YAML 1.2 core does: ~/null/Null/NULL/empty,
// true/True/TRUE/false/False/FALSE, decimal integers; everything else, `off` included, a string.

export const NEEDS_POSITIONS = Symbol('needs positions')

const FAST_BAIL_TEXT = [
  /^%/m, // a directive
  /(?:^|[\s,[{])\?(?:\s|$)/m, // an explicit key indicator
  /^[ \t]*(?:-[ \t]+)*[[{].*[\]}][ \t]*:(?:\s|$)/m, // a flow collection as a block key
  /[[{,]\s*[[{]/ // a flow collection inside a flow collection (possibly a key)
]

// `first`: the characters a match can start with ('' for the empty scalar), tested before the
// regular expression: js-yaml asks every implicit type about every plain scalar (10,000 routes: ~80,000)
const same = (tag: string, first: string, test: RegExp, construct: (s: string) => unknown): YamlType =>
  new YamlType(tag, { kind: 'scalar', resolve: (s: string) => (s === '' || first.includes(s[0]!)) && test.test(s), construct })
const bail = (): never => { throw NEEDS_POSITIONS }
const FAST_SCHEMA = FAILSAFE_SCHEMA.extend({
  implicit: [
    same('tag:yaml.org,2002:null', '~nN', CORE_NULL, () => null),
    same('tag:yaml.org,2002:bool', 'tTfF', CORE_BOOL, (s) => s === 'true' || s === 'True' || s === 'TRUE'),
    same('tag:yaml.org,2002:int', '0123456789', CORE_DECIMAL, Number),
    // every other plain scalar YAML 1.2 core reads as a number
    same('tag:portcullis,2026:bail', '0123456789+-.', CORE_OTHER_NUMBER, bail)
  ]
})

/** Route-map data when the line reader or js-yaml reads exactly what `yaml` would; undefined: use the exact path. */
export function parseFast (text: string): unknown {
  const plain = readPlainYaml(text)
  if (plain !== undefined) return plain
  if (FAST_BAIL_TEXT.some((re) => re.test(text))) return undefined
  let anchored = false
  try {
    const data = loadYaml(text, {
      schema: FAST_SCHEMA,
      json: false, // duplicate keys throw
      listener (event: 'open' | 'close', state: YamlState) {
        if (event === 'close' && (state as YamlState & { anchor: string | null }).anchor != null) anchored = true
      }
    })
    return anchored || data == null ? undefined : data
  } catch {
    return undefined
  }
}

/** A reporter for the fast path: the first issue of any kind sends the map to the exact path. */
export class FastReporter extends SourceReporter {
  constructor (file: string) { super(file, new Document(), new LineCounter()) }
  override at (): void { throw NEEDS_POSITIONS }
  override atOffset (): void { throw NEEDS_POSITIONS }
  override lineOf (): number { throw NEEDS_POSITIONS }
}
