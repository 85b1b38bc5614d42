// Dependencies are honest (issue 9 item 3), both directions:
//   1. every bare import of the run-time code (src/**/*.ts, and the bin/ entry point) is declared in
//      package.json "dependencies" (not only in devDependencies, which a production install omits);
//   2. every "dependencies" entry is imported by that code: no package is kept only to be listed.
// Type-only imports (`import type`, `export type`) vanish at run time and do not count. node:
// builtins are not packages. devDependencies (tests, bench/) are not checked against src.
// Why packages left (@fastify/jwt, @fastify/redis, @fastify/http-proxy, @fastify/reply-from): README "Libraries and what each does".
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { isBuiltin } from 'node:module'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ROOT_URL } from '../helpers/root.js'

const root = fileURLToPath(ROOT_URL)
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>, devDependencies?: Record<string, string> }
const dependencies = Object.keys(pkg.dependencies ?? {})

/**
 * Needed at run time without any import from src or bin, each with the reason. Ideally empty; an
 * entry here is still checked (it must be in "dependencies", or the entry is stale).
 */
const RUNTIME_WITHOUT_IMPORT: Readonly<Record<string, string>> = {}

function files (dir: string, ext: RegExp): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && ext.test(d.name))
    .map((d) => join(d.parentPath, d.name))
}

/** Bare specifiers this module loads at run time: static imports, re-exports, dynamic import() of a literal. */
export function runtimeSpecifiers (source: string): string[] {
  const out: string[] = []
  // comment lines out (a line opening with //, /* or *); block-comment stripping by regex would be
  // fooled by globs such as '/orders/*' in strings
  const code = source.replace(/^\s*(\/\/|\/\*|\*).*$/gm, '')
  // import x from 'a' | import { a, type B } from 'a' | import 'a' | export { x } from 'a' | export * from 'a'
  const stmt = /^\s*(import|export)\s+(type\s+)?([^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm
  for (const m of code.matchAll(stmt)) {
    if (m[2] !== undefined) continue // import type / export type: erased
    if (m[1] === 'export' && m[3] === undefined) continue // not a re-export
    out.push(m[4] as string)
  }
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1] as string)
  return out.filter((s) => !s.startsWith('.') && !s.startsWith('/') && !isBuiltin(s))
}

/** '@scope/name/sub' → '@scope/name'; 'name/sub' → 'name'. */
export function packageOf (specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0] as string
}

const runtimeFiles = [...files('src', /\.ts$/), ...files('bin', /\.(js|mjs|cjs)$/)]
const usedBy = new Map<string, string[]>()
for (const file of runtimeFiles) {
  for (const spec of runtimeSpecifiers(readFileSync(file, 'utf8'))) {
    const name = packageOf(spec)
    usedBy.set(name, [...usedBy.get(name) ?? [], relative(root, file)])
  }
}

t.test('the import scanner sees what Node loads, and nothing it does not', async (t) => {
  const sample = [
    "import Fastify from 'fastify'",
    "import { Redis } from 'ioredis'",
    "import { type A, b } from 'typebox/value'",
    "import type { X } from 'only-a-type'",
    "export type { Y } from 'also-a-type'",
    "export { z } from '@scope/pkg/sub'",
    "import 'side-effect'",
    "import { readFile } from 'node:fs'",
    "import { join } from 'path'",
    "import { local } from './local.js'",
    "const lazy = await import('lazy-pkg')",
    "// import gone from 'commented-out'",
    '/* import gone2 from "block-commented" */'
  ].join('\n')
  t.same(runtimeSpecifiers(sample).map(packageOf).sort(), ['@scope/pkg', 'fastify', 'ioredis', 'lazy-pkg', 'side-effect', 'typebox'])
})

t.test('the scan found the run-time code', async (t) => {
  t.ok(runtimeFiles.length > 50, `${runtimeFiles.length} files scanned`)
  t.ok(usedBy.has('fastify') && usedBy.has('fast-jwt') && usedBy.has('ioredis'), 'known imports are seen')
})

t.test('every package the run-time code imports is in "dependencies"', async (t) => {
  for (const [name, where] of [...usedBy].sort(([a], [b]) => a.localeCompare(b))) {
    t.ok(dependencies.includes(name), `${name} (imported by ${where.slice(0, 3).join(', ')}${where.length > 3 ? ', …' : ''}) is a dependency`)
  }
})

t.test('every "dependencies" entry is imported by src or bin (none kept only to be listed)', async (t) => {
  for (const name of dependencies) {
    const reason = RUNTIME_WITHOUT_IMPORT[name]
    t.ok(usedBy.has(name) || reason !== undefined, `${name} is imported at run time${reason !== undefined ? ` (allowed: ${reason})` : ''}`)
  }
  for (const name of Object.keys(RUNTIME_WITHOUT_IMPORT)) t.ok(dependencies.includes(name), `allow-list entry ${name} is still a dependency`)
})
