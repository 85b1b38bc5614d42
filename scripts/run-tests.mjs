#!/usr/bin/env node
// `npm test` and `npm run test:ha`: brings dist/ and its bundle up to date (the tests that run the
// real binary run the shipped build, as `npm run build` makes it) and compiles the sources and tests
// to .tap/js/ (tsconfig.test.json; both tsc runs are incremental, about a second each when up to
// date), then runs each tap test file as its own process, `jobs` at a time, and ends with the plain
// `N passed, N failed` line CI reads. Exits 1 when a file fails, times out or crashes.
//
// The files are tap tests (`import t from 'tap'`); this script is tap's runner minus what it adds
// to every test process: @tapjs/mock's and @tapjs/processinfo's module hooks and tsx's, which every
// module a test loads passes through (a gateway loads ~800, TypeBox alone ~680): about 1.5 s of CPU
// per file together (README "Tests" has the measurements). A file runs here as plain JavaScript,
// `node --enable-source-maps .tap/js/test/….test.js` (stack traces still name the .ts lines); tests
// name the files they read from the repository's root (test/helpers/root.ts), so they run the same
// from the sources: `npx tap FILE` still runs one file through tsx.
//
// Usage: node scripts/run-tests.mjs [--jobs=N] [--timeout=SECONDS] [FILE ...]
// Without files: every test/**/*.test.ts except test/ha (package.json "tap" include/exclude).
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join, relative } from 'node:path'

const root = fileURLToPath(new URL('..', import.meta.url))
const HANDLES_URL = new URL('test-handles.mjs', import.meta.url).href
const config = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).tap
const flag = (name, fallback) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`))
  return arg ? Number(arg.slice(name.length + 3)) : fallback
}
const jobs = flag('jobs', config.jobs)
const timeoutS = flag('timeout', config.timeout)
const named = process.argv.slice(2).filter((a) => !a.startsWith('--'))

// dist/ and its bundle (scripts/bundle.mjs, about a second) for the binary the tests start, .tap/js/
// for the tests themselves, the two side by side
const tsc = join(root, 'node_modules/typescript/bin/tsc')
const run = (args) => new Promise((resolve) => {
  spawn(process.execPath, args, { stdio: 'inherit' }).on('close', resolve)
})
const compile = (project) => run([tsc, '-p', join(root, project)])
const bundle = async () => {
  const code = await compile('tsconfig.build.json')
  return code === 0 ? await run([join(root, 'scripts/bundle.mjs')]) : code
}
const built = await Promise.all([bundle(), compile('tsconfig.test.json')])
if (built.some((code) => code !== 0)) {
  process.stdout.write('\n0 passed, 1 failed\n')
  process.exit(1)
}
// src/admin/status.ts reads its version from ../../package.json, also when compiled under .tap/js/
try { symlinkSync('../../package.json', join(root, '.tap/js/package.json')) } catch { /* there already */ }

// every test/**/*.test.ts, minus the excluded folders (test/ha runs in its own command)
function allFiles () {
  const excluded = (file) => file.startsWith('test/ha/') || /(^|\/)(fixtures?|dist)\//.test(file)
  return readdirSync(join(root, 'test'), { recursive: true })
    .map((f) => `test/${f}`)
    .filter((f) => f.endsWith('.test.ts') && !excluded(f))
    .sort()
}
const files = named.length > 0 ? named.map((f) => relative(root, join(root, f))) : allFiles()

// Longest first (times of the last run), so no long file starts last and runs alone.
const timesFile = join(root, '.tap/test-times.json')
let lastTimes = {}
try { lastTimes = JSON.parse(readFileSync(timesFile, 'utf8')) } catch { /* first run */ }
const queue = [...files].sort((a, b) => (lastTimes[b] ?? 1e9) - (lastTimes[a] ?? 1e9))

const totals = { pass: 0, fail: 0, skip: 0, todo: 0 }
const times = { ...lastTimes }
const running = new Set()
let failedFiles = 0
let index = 0

function runFile (file) {
  return new Promise((resolve) => {
    const started = Date.now()
    const compiled = join('.tap/js', file.replace(/\.ts$/, '.js'))
    const child = spawn(process.execPath, ['--enable-source-maps', '--import', HANDLES_URL, compiled], {
      cwd: root,
      detached: true, // its own process group: a timeout stops what it started too
      // test-handles.mjs names what keeps a process alive, shortly before tap's own timeout
      env: { ...process.env, TAP_TIMEOUT: String(timeoutS), PORTCULLIS_TEST_HANDLES_AT_MS: String(Math.max(1, timeoutS - 5) * 1000) },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    running.add(child)
    let out = ''
    child.stdout.on('data', (c) => { out += c })
    child.stderr.on('data', (c) => { out += c })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try { process.kill(-child.pid, 'SIGKILL') } catch { /* gone */ }
    }, (timeoutS + 5) * 1000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      running.delete(child)
      const ms = Date.now() - started
      // tap's root test ends with `# { total: N, pass: N, fail: N, … }` (unindented)
      const counts = [...out.matchAll(/^# \{ total: \d+(.*)\}$/gm)].pop()
      const count = (k) => Number(new RegExp(`${k}: (\\d+)`).exec(counts?.[1] ?? '')?.[1] ?? 0)
      for (const k of Object.keys(totals)) totals[k] += count(k)
      const ok = code === 0 && !timedOut && counts !== undefined && count('fail') === 0
      index += 1
      if (ok) {
        times[file] = ms
        process.stdout.write(`ok ${index} - ${file} # time=${ms}ms\n`)
      } else {
        failedFiles += 1
        if (count('fail') === 0) totals.fail += 1 // a crash or a timeout counts as one failure
        const why = timedOut ? `timed out after ${timeoutS} s` : `exit ${code ?? signal}`
        process.stdout.write(`not ok ${index} - ${file} # ${why}, time=${ms}ms\n`)
        process.stdout.write(out.replace(/^/gm, '    ') + '\n')
      }
      resolve()
    })
  })
}

async function worker () {
  while (queue.length > 0) await runFile(queue.shift())
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const child of running) { try { process.kill(-child.pid, 'SIGKILL') } catch { /* gone */ } }
    process.exit(1)
  })
}

const started = Date.now()
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker))
mkdirSync(join(root, '.tap'), { recursive: true })
writeFileSync(timesFile, JSON.stringify(times, null, 1))
const skipped = totals.skip + totals.todo
process.stdout.write(`\n# ${files.length} files, ${failedFiles} failed, ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
process.stdout.write(`\n${totals.pass} passed, ${totals.fail} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
process.exit(failedFiles > 0 ? 1 : 0)
