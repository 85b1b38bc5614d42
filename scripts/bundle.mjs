#!/usr/bin/env node
// The second half of `npm run build`: bundles the compiled JavaScript (dist/, from tsc) and the
// dependencies it imports into dist/bundle/ with esbuild, which `bin/portcullis.js` runs.
//
// Why: Node resolves, reads and links every ES module on its own. A gateway loads ~650 modules
// (TypeBox alone ~680 files of which it needs a part), and that was most of every start: `serve`
// until /readyz 200 took 827 ms, a CLI command such as `clients list` 410 ms; bundled, 338 ms and
// 170 ms (README "Performance"). Lazy `import()`s stay lazy: `splitting` puts each behind
// its own chunk, so `--help` still loads neither TypeBox nor the route loader.
//
// - Two dependencies stay external, loaded from node_modules as before:
//   - `bcrypt`: a native addon (node-gyp-build finds its .node file from its own package folder);
//   - `piscina`: a worker thread runs piscina's own worker.js from its package folder, which sets the
//     `workerData` our worker reads from `piscina`; a bundled copy would be a second module whose
//     workerData nobody sets (and it finds worker.js through __dirname, which a bundle lacks).
// - The bcrypt worker is an entry of its own, `dist/bundle/bcrypt-worker.js`: passwords.ts starts it
//   as `./bcrypt-worker.js` beside its own module, which in the bundle is a chunk in the same folder.
// - src/admin/status.ts reads `../../package.json`: dist/bundle/chunk-….js is as deep as
//   dist/admin/status.js, so both find the package's own package.json.
// - No `keepNames`: the bundle renames a top-level symbol that collides with another module's (a
//   second `Foo` becomes `Foo2`), and nothing here reads a function's or class's name (every error
//   class names itself: `override readonly name = '…'`; CommonJS dependencies keep their own scope).
//   keepNames would wrap every function made at run time in a defineProperty call: 2.4 % of the
//   gateway's busy time under load went to that (`--cpu-prof`, bench/README.md).
// - CommonJS dependencies (ioredis, fastify's own) call `require` for Node's built-in modules, and a
//   few name `__dirname` (ioredis trims its friendly error stacks with it); an ES module has neither,
//   so each chunk defines them (the bundle's folder; no path under it is read).
import { build } from 'esbuild'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const outdir = `${root}dist/bundle`

rmSync(outdir, { recursive: true, force: true }) // no chunk of an earlier build stays behind
await build({
  absWorkingDir: root,
  entryPoints: [
    { in: 'dist/cli.js', out: 'cli' },
    { in: 'dist/oauth/bcrypt-worker.js', out: 'bcrypt-worker' }
  ],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['bcrypt', 'piscina'],
  sourcemap: true, // chained through tsc's maps to src/ (node --enable-source-maps)
  banner: {
    js: [
      "import { createRequire as __portcullisRequire } from 'node:module';",
      "import { fileURLToPath as __portcullisPath } from 'node:url';",
      'const require = __portcullisRequire(import.meta.url);',
      'const __filename = __portcullisPath(import.meta.url);',
      "const __dirname = __portcullisPath(new URL('.', import.meta.url));"
    ].join(' ')
  },
  logLevel: 'warning'
})
