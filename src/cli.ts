// portcullis <command>: serve | dev | routes | users | clients | keys | access | status
// Errors go to stderr as one line with a non-zero exit; every data command has --json. Usage errors
// (unknown command or option, missing argument) exit 2, like every other usage error (cli/common.ts).
import { Command } from 'commander'
import { accessCommand } from './cli/access.js'
import { clientsCommand } from './cli/clients.js'
import { cliConventions } from './cli/common.js'
import { keysCommand } from './cli/keys.js'
import { routesCommand } from './cli/routes.js'
import { statusCommand } from './cli/status.js'
import { usersCommand } from './cli/users.js'
import { demoUpstreamCommand, devCommand, serveCommand } from './cli/serve.js'

const program = new Command('portcullis')
  .description('Portcullis: an OAuth 2.0 API gateway')

program.addCommand(serveCommand())
program.addCommand(devCommand())
program.addCommand(routesCommand())
program.addCommand(usersCommand())
program.addCommand(clientsCommand())
program.addCommand(keysCommand())
program.addCommand(accessCommand())
program.addCommand(statusCommand())
program.addCommand(demoUpstreamCommand())
cliConventions(program) // after addCommand: it applies to every command and subcommand
program.configureOutput({
  writeErr: (s) => process.stderr.write(s),
  outputError: (s, write) => { write(`portcullis: ${s.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see portcullis --help)\n`) }
})

/** Commands that keep running after their action returns: they serve until a signal stops them. */
const SERVERS = new Set(['serve', 'dev', 'demo-upstream'])
/** How long a finished command may still have handles open before it exits anyway. */
const EXIT_GRACE_MS = 1000

await program.parseAsync(process.argv)
// Any other command has finished here: its output is written (synchronously, to a pipe or a file on
// Linux) and its store closed. A client library that keeps a timer or socket after close must not keep
// the CLI alive: an ioredis Cluster client mid-failover kept `users add` running for over 60 s after
// it had printed its error (test:ha cluster-load). The exit code set by the command stays.
const command = process.argv.slice(2).find((a) => !a.startsWith('-'))
if (command === undefined || !SERVERS.has(command)) setTimeout(() => { process.exit() }, EXIT_GRACE_MS).unref()
