// `portcullis clients add | rotate-secret | disable | enable | list`, on REDIS_URL.
// A generated secret is printed once, by the command that made it; secret hashes are never printed.
import { Command, Option } from 'commander'
import { DPOP_MODES, setClientDpop, type DpopMode } from '../oauth/client-dpop.js'
import {
  addClient, checkClientId, disableClient, enableClient, GRANTS, listClients, parseGrants, parseScopes, redirectUrisFor,
  rotateClientSecret, type ClientCredentials, type ClientView
} from '../oauth/accounts.js'
import { setRedirectUris } from '../oauth/client-redirects.js'
import { action, cliConventions, isoTime, output, table, withStore } from './common.js'

interface JsonOpt { json?: boolean }
interface AddOpts extends JsonOpt { grants: string; scopes: string; public?: boolean; introspect?: boolean; redirectUri: string[]; consent?: boolean; dpop?: DpopMode }

/** The JSON shape of a client. */
function clientJson (c: ClientView): object {
  return {
    client_id: c.id, public: c.public, grants: c.grants, scopes: c.scopes, disabled: c.disabled, introspect: c.introspect,
    redirect_uris: c.redirectUris, consent: c.consent, dpop: c.dpop, created_at: c.createdAt
  }
}

const list = (items: string[]): string => items.length === 0 ? '(none)' : items.join(' ')

function credentialsText (c: ClientCredentials): string[] {
  if (c.client_secret === null) return [`client_id:     ${c.client_id}`, 'public client: no secret']
  return [
    `client_id:     ${c.client_id}`,
    `client_secret: ${c.client_secret}`,
    'Store the secret now: it is not shown again.'
  ]
}

/** RFC 9449 §5.2: `required` = the client never receives a bearer token. */
function dpopOption (): Option {
  return new Option('--dpop <mode>', 'required: token requests without a DPoP proof are refused (RFC 9449); optional: DPoP when a proof is sent').choices(DPOP_MODES)
}

export function clientsCommand (): Command {
  const clients = new Command('clients').description('manage OAuth clients in the store at REDIS_URL')

  clients.command('add')
    .description('add a client; a confidential client gets a generated secret, printed once')
    .argument('<id>', 'client id: 1-64 of A-Z a-z 0-9 . _ - (case-sensitive)')
    .requiredOption('--grants <grants>', `space-separated grants, some of: ${GRANTS.join(' ')}`)
    .requiredOption('--scopes <scopes>', 'space-separated scopes the client may be granted ("" for none)')
    .option('--public', 'a public client (no secret; not allowed client_credentials)')
    .option('--introspect', 'may introspect tokens issued to other clients (a resource server; confidential only)')
    .option('--redirect-uri <uri>', 'a redirect URI for authorization_code (repeatable): https, http://127.0.0.1 or [::1] (any port), or com.example.app:/path', (v: string, all: string[]) => [...all, v], [])
    .option('--consent', 'ask the user to approve the requested scopes (third-party clients); without it the consent page is skipped')
    .addOption(dpopOption())
    .option('--json', 'print {"client_id": ..., "client_secret": ...}')
    .action(action(async (id: string, opts: AddOpts) => {
      // validated before touching the store
      const grants = parseGrants(opts.grants)
      const input = {
        id: checkClientId(id), grants, scopes: parseScopes(opts.scopes), public: opts.public === true, introspect: opts.introspect === true,
        redirectUris: redirectUrisFor(opts.redirectUri, grants), consent: opts.consent === true, dpop: opts.dpop ?? 'optional'
      }
      await withStore(async (store, config) => {
        const created = await addClient(store, { ...input, cost: config.BCRYPT_COST })
        output(opts.json, { client_id: created.client_id, client_secret: created.client_secret }, () => credentialsText(created))
      })
    }))

  clients.command('set-redirect-uris')
    .description('replace the client\'s registered redirect URIs (RFC 8252 rules, see clients add)')
    .argument('<id>', 'client id')
    .argument('[uris...]', 'the redirect URIs (none: remove all; not allowed for an authorization_code client)')
    .option('--json', 'print JSON')
    .action(action(async (id: string, uris: string[], opts: JsonOpt) => {
      checkClientId(id)
      redirectUrisFor(uris, []) // the URIs themselves, before touching the store (a bad one: usage error, exit 2)
      await withStore(async (store) => {
        const c = await setRedirectUris(store, id, uris)
        output(opts.json, clientJson(c), () => `client ${c.id} redirect URIs: ${list(c.redirectUris)}`)
      })
    }))

  clients.command('set')
    .description('change a client\'s settings')
    .argument('<id>', 'client id')
    .addOption(dpopOption().makeOptionMandatory())
    .option('--json', 'print JSON')
    .action(action(async (id: string, opts: JsonOpt & { dpop: DpopMode }) => {
      await withStore(async (store) => {
        const c = await setClientDpop(store, id, opts.dpop)
        output(opts.json, clientJson(c), () => `client ${c.id}: DPoP ${c.dpop}${c.dpop === 'required' ? ' (token requests without a DPoP proof are refused)' : ''}`)
      })
    }))

  clients.command('rotate-secret')
    .description('replace a confidential client\'s secret (the old one stops working at once); prints the new one once')
    .argument('<id>', 'client id')
    .option('--json', 'print {"client_id": ..., "client_secret": ...}')
    .action(action(async (id: string, opts: JsonOpt) => {
      await withStore(async (store, config) => {
        const rotated = await rotateClientSecret(store, id, config.BCRYPT_COST)
        output(opts.json, { client_id: rotated.client_id, client_secret: rotated.client_secret }, () => credentialsText(rotated))
      })
    }))

  clients.command('disable')
    .description('refuse the client\'s token requests and every token issued to it, at once (also after a later enable)')
    .argument('<id>', 'client id')
    .option('--json', 'print JSON')
    .action(action(async (id: string, opts: JsonOpt) => {
      await withStore(async (store) => {
        const c = await disableClient(store, id)
        output(opts.json, clientJson(c), () => `client ${c.id} disabled: token requests and its tokens are refused`)
      })
    }))

  clients.command('enable')
    .description('allow a disabled client again (tokens from before the disable stay refused)')
    .argument('<id>', 'client id')
    .option('--json', 'print JSON')
    .action(action(async (id: string, opts: JsonOpt) => {
      await withStore(async (store) => {
        const c = await enableClient(store, id)
        output(opts.json, clientJson(c), () => `client ${c.id} enabled`)
      })
    }))

  clients.command('list')
    .description('list clients (never their secrets)')
    .option('--json', 'print JSON')
    .action(action(async (opts: JsonOpt) => {
      await withStore(async (store) => {
        const all = await listClients(store)
        output(opts.json, all.map(clientJson), () => all.length === 0
          ? 'no clients'
          : table(['CLIENT_ID', 'TYPE', 'STATUS', 'INTROSPECT', 'DPOP', 'CREATED', 'GRANTS', 'SCOPES'],
            all.map((c) => [c.id, c.public ? 'public' : 'confidential', c.disabled ? 'disabled' : 'active',
              c.introspect ? 'any' : 'own', c.dpop, isoTime(c.createdAt), list(c.grants), list(c.scopes)])))
      })
    }))

  return cliConventions(clients)
}
