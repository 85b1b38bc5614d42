// `clients set-redirect-uris`: replaces a client's registered redirect URIs in one atomic update
// (Store.updateClient), checked by the rules of redirect-uri.ts.
import type { Store } from '../store/types.js'
import { AccountError, checkClientId, clientView, redirectUrisFor, type ClientView } from './accounts.js'

export async function setRedirectUris (store: Store, id: string, uris: readonly string[]): Promise<ClientView> {
  const client = await store.updateClient(checkClientId(id), (c) => {
    const { redirectUris: _old, ...rest } = c
    const next = redirectUrisFor(uris, c.grants) // throws: nothing written
    return next.length === 0 ? rest : { ...rest, redirectUris: next }
  })
  if (client === null) throw new AccountError('not_found', `no client ${JSON.stringify(id)}`)
  return clientView(client)
}
