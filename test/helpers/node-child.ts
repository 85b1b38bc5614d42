// How tests start the real binary as a child process: `node ARGS` with NODE_OPTIONS removed.
// tap's process tracker (@tapjs/processinfo) hooks every spawn of the test process and adds its
// loader to the child's NODE_OPTIONS, whatever env the test passes; in a gateway that loads ~650
// modules it costs about a second of CPU per start. The product's processes are not the code under
// coverage here, so they start as ops start them: `env -u NODE_OPTIONS node …`.
export const ENV_BIN = '/usr/bin/env'

/** The command and arguments that run `node ...args` without the test runner's NODE_OPTIONS. */
export function nodeChild (args: string[]): [string, string[]] {
  return [ENV_BIN, ['-u', 'NODE_OPTIONS', process.execPath, ...args]]
}
