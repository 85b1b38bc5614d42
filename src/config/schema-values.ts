// Error wording for enum-like schemas, shared by the environment (env.ts) and the route map
// (route-map-reporter.ts): TypeBox says "must be equal to constant" once per literal of a union, which
// names no value; a config error must list what is allowed (STYLE.md 4: one clear message).

/** The values an enum-like schema (`enum`, or `anyOf` of string/number literals) allows; null otherwise. */
export function allowedValues (schema: unknown): Array<string | number> | null {
  if (typeof schema !== 'object' || schema === null) return null
  const s = schema as { anyOf?: unknown[], enum?: unknown[] }
  const values = s.enum ?? s.anyOf?.map((m) => (m as { const?: unknown } | null)?.const)
  if (values === undefined || values.length === 0) return null
  if (!values.every((v) => typeof v === 'string' || typeof v === 'number')) return null
  return values as Array<string | number>
}

/** `must be one of a, b, c` for an enum-like schema; null for any other schema. */
export function oneOfMessage (schema: unknown): string | null {
  const values = allowedValues(schema)
  return values === null ? null : `must be one of ${values.join(', ')}`
}

/**
 * Whether a TypeBox error is one member of a union of literals failing (`#/…/anyOf/N`, keyword
 * `const`): it is reported once, by the union's own error, with every allowed value.
 */
export function isUnionMemberError (e: { keyword: string, schemaPath: string }, parentOf: (path: string) => unknown): boolean {
  const m = /^(.*)\/anyOf\/[0-9]+$/.exec(e.schemaPath)
  return e.keyword === 'const' && m !== null && allowedValues(parentOf(m[1]!)) !== null
}
