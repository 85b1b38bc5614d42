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

await program.parseAsync(process.argv)
