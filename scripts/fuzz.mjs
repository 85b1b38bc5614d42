#!/usr/bin/env node
// `npm run fuzz`: the property tests of test/property/ (the same properties `npm test` runs with
// ~100-200 cases each), run for a time budget instead of a fixed number of cases.
//   FUZZ_SECONDS  total budget, shared evenly by the properties (default 60; one file at a time)
//   FUZZ_RUNS     a fixed number of cases per property instead of a budget
//   FUZZ_SEED     replay a seed printed by a failure
// Exits non-zero on the first counterexample (fast-check prints it, shrunk, with its seed).
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = 'test/property'
const files = readdirSync(new URL(`../${dir}`, import.meta.url)).filter((f) => f.endsWith('.test.ts')).map((f) => `${dir}/${f}`)
const properties = files.reduce((n, f) => n + (readFileSync(new URL(`../${f}`, import.meta.url), 'utf8').match(/fc\.assert\(/g) ?? []).length, 0)
const seconds = Number(process.env.FUZZ_SECONDS ?? 60)
if (!(seconds > 0)) { console.error('FUZZ_SECONDS must be a positive number'); process.exit(2) }
const perProperty = Math.max(1000, Math.floor((seconds * 1000) / properties))
const env = { ...process.env }
if (env.FUZZ_RUNS === undefined) env.FUZZ_PROPERTY_MS = String(perProperty)
console.log(`fuzz: ${properties} properties in ${files.length} files, ` +
  (env.FUZZ_RUNS !== undefined ? `${env.FUZZ_RUNS} runs each` : `${perProperty} ms each (FUZZ_SECONDS=${seconds})`))

const tap = fileURLToPath(new URL('../node_modules/tap/dist/esm/run.mjs', import.meta.url))
const timeout = env.FUZZ_RUNS !== undefined ? 3600 : Math.ceil(seconds * 2 + 120)
const child = spawn(process.execPath, [tap, '--jobs=1', '--disable-coverage', `--timeout=${timeout}`, ...files], { cwd: root, env, stdio: 'inherit' })
child.on('close', (code, signal) => { process.exit(code ?? (signal ? 1 : 0)) })
