#!/usr/bin/env node
// Entry point for `npx portcullis <command>`: runs the bundle in dist/bundle/ (`npm run build`: tsc,
// then esbuild, scripts/bundle.mjs; `npm install` builds it through `prepare`).
import { existsSync } from 'node:fs'

const entry = new URL('../dist/bundle/cli.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('portcullis: dist/ is missing: run `npm run build` (npm install does it through `prepare`)\n')
  process.exit(1)
}
await import(entry.href)
