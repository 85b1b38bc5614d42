// Usage errors through the real binary (issue 9): an unknown command, an unknown option or a missing
// argument is one line on stderr and exit 2, as README "CLI" says, on every command, not only on
// the ones that had it; a refused configuration stays exit 1.
import t from 'tap'
import { runCli } from '../fixtures/run-cli.js'

t.setTimeout(240_000) // a dozen real processes, one after another, on a loaded machine

const usage: Array<{ what: string, args: string[], stderr: RegExp }> = [
  { what: 'unknown command', args: ['srve'], stderr: /^portcullis: unknown command 'srve'/ },
  { what: 'unknown subcommand', args: ['routes', 'lint'], stderr: /^portcullis: unknown command 'lint'/ },
  { what: 'unknown option on serve', args: ['serve', '--port', '1'], stderr: /^portcullis: unknown option '--port'/ },
  { what: 'unknown option on dev', args: ['dev', '--verbose'], stderr: /^portcullis: unknown option '--verbose'/ },
  { what: 'option without its value', args: ['demo-upstream', '--port'], stderr: /^portcullis: option '--port <port>' argument missing/ },
  { what: 'option with a bad value', args: ['demo-upstream', '--port', 'ninety'], stderr: /^portcullis: --port must be a port number, got "ninety"/ },
  { what: 'missing argument', args: ['users', 'add', '--scopes', 'x'], stderr: /^portcullis: missing required argument 'name'/ },
  { what: 'missing required option', args: ['clients', 'add', 'billing'], stderr: /^portcullis: required option '--grants <grants>' not specified/ }
]

for (const c of usage) {
  t.test(`usage error, exit 2: ${c.what}`, async (t) => {
    const r = await runCli(c.args)
    t.equal(r.code, 2, `exit code (stderr: ${r.stderr.trim()})`)
    t.match(r.stderr, c.stderr)
    t.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line')
    t.equal(r.stdout, '', 'nothing on stdout')
  })
}

t.test('no command at all: the usage on stderr, exit 2', async (t) => {
  const r = await runCli([])
  t.equal(r.code, 2)
  t.match(r.stderr, /^Usage: portcullis/)
  t.equal(r.stdout, '')
})

t.test('--help is not an error: stdout, exit 0', async (t) => {
  const r = await runCli(['--help'])
  t.equal(r.code, 0)
  t.match(r.stdout, /^Usage: portcullis/)
})

t.test('a refused configuration is exit 1, one line: NODE_ENV=prod', async (t) => {
  const r = await runCli(['serve'], { env: { NODE_ENV: 'prod' } })
  t.equal(r.code, 1)
  t.equal(r.stderr, 'portcullis: invalid configuration: NODE_ENV="prod" must be one of development, production, test\n')
})
