// How tests start the real binary as a child process: `node ARGS` with NODE_OPTIONS removed.
// tap's process tracker (@tapjs/processinfo) hooks every spawn of the test process and adds its
// loader to the child's NODE_OPTIONS, whatever env the test passes; in a gateway that loads ~650
// modules it costs about a second of CPU per start. The product's processes are not the code under
// coverage here, so they start as ops start them: `env -u NODE_OPTIONS node …`.
import { readFileSync } from 'node:fs'
import { ROOT_URL } from './root.js'

export const ENV_BIN = '/usr/bin/env'

/** The command and arguments that run `node ...args` without the test runner's NODE_OPTIONS. */
export function nodeChild (args: string[]): [string, string[]] {
  return [ENV_BIN, ['-u', 'NODE_OPTIONS', process.execPath, ...args]]
}

/**
 * The node options the shipped image runs with: the Dockerfile's `ENV NODE_OPTIONS=…` (the V8 heap
 * bound, README "Performance"). spawnGateway and the bench start `serve` with them on the command line
 * (the same effect for V8's heap flags; this helper drops the test runner's NODE_OPTIONS), so the
 * tests and the figures are of the process the image runs.
 */
export function imageNodeFlags (): string[] {
  const dockerfile = readFileSync(new URL('Dockerfile', ROOT_URL), 'utf8')
  const value = /^ENV NODE_OPTIONS=("[^"]*"|\S+)\s*$/m.exec(dockerfile)?.[1]
  if (value === undefined) return []
  return value.replace(/^"|"$/g, '').split(/\s+/).filter(Boolean)
}
