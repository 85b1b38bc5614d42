// portcullis <command>: serve | dev | routes | users | clients | keys
// Errors go to stderr as one line with a non-zero exit; every data command has --json.
import { Command } from 'commander'
import { clientsCommand } from './cli/clients.js'
import { keysCommand } from './cli/keys.js'
import { routesCommand } from './cli/routes.js'
import { usersCommand } from './cli/users.js'
import { demoUpstreamCommand, devCommand, serveCommand } from './cli/serve.js'

const program = new Command('portcullis')
  .description('Portcullis: an OAuth 2.0 API gateway')
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })

program.addCommand(serveCommand())
program.addCommand(devCommand())
program.addCommand(routesCommand())
program.addCommand(usersCommand())
program.addCommand(clientsCommand())
program.addCommand(keysCommand())
program.addCommand(demoUpstreamCommand())

await program.parseAsync(process.argv)
