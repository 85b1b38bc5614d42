#!/usr/bin/env node
// `npm test`: brings dist/ up to date (the tests that run the real binary run the compiled build;
// tsc is incremental, so an up-to-date build costs about a second), runs tap, passes its output
// through, and ends with the plain `N passed, N failed` line CI reads. Exits with tap's own exit code.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
const project = fileURLToPath(new URL('../tsconfig.build.json', import.meta.url))
const build = spawnSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit' })
if (build.status !== 0) {
  process.stdout.write('\n0 passed, 1 failed\n')
  process.exit(build.status ?? 1)
}

const tapBin = fileURLToPath(new URL('../node_modules/tap/dist/esm/run.mjs', import.meta.url))
const child = spawn(process.execPath, [tapBin, ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'] })
let last = null
let buffer = ''
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  buffer += chunk.toString('utf8')
  const lines = buffer.split('\n')
  buffer = lines.pop() ?? ''
  for (const line of lines) {
    const m = /^# \{ total: (\d+)(.*)\}/.exec(line)
    if (m) last = m
  }
})
child.on('close', (code, signal) => {
  if (last) {
    const count = (k) => Number(new RegExp(`${k}: (\\d+)`).exec(last[2])?.[1] ?? 0)
    const skipped = count('skip') + count('todo')
    process.stdout.write(`\n${count('pass')} passed, ${count('fail')} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
  }
  process.exit(code ?? (signal ? 1 : 0))
})
