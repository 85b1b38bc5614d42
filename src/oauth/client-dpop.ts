// `clients set ID --dpop required|optional` (RFC 9449 §5.2 dpop_bound_access_tokens): a client set
// to `required` never receives a bearer token; the token endpoint refuses its requests without a
// proof (dpop-token.ts). One atomic update of the client record, like every account change.
import type { Store } from '../store/types.js'
import { AccountError, checkClientId, clientView, type ClientView } from './accounts.js'

export const DPOP_MODES = ['required', 'optional'] as const
export type DpopMode = typeof DPOP_MODES[number]

export async function setClientDpop (store: Store, id: string, mode: DpopMode): Promise<ClientView> {
  const client = await store.updateClient(checkClientId(id), (c) => {
    const { dpop: _old, ...rest } = c
    return mode === 'required' ? { ...rest, dpop: 'required' } : rest
  })
  if (client === null) throw new AccountError('not_found', `no client ${JSON.stringify(id)}`)
  return clientView(client)
}
