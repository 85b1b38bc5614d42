// The registry the access diff and the lint read: every client and user with the scopes it may be
// granted. A token issued to a client carries at most the client's scopes, and a user's at most the
// user's (src/oauth/scope.ts), so these are the ceilings. Disabled records are kept, marked: enabling
// one brings its access back without any route-map change.
import type { ClientRecord, UserRecord } from '../store/types.js'

export interface RegistryClient { readonly id: string, readonly scopes: readonly string[], readonly disabled: boolean }
export interface RegistryUser { readonly name: string, readonly scopes: readonly string[], readonly disabled: boolean }

export interface Registry {
  readonly clients: readonly RegistryClient[]
  readonly users: readonly RegistryUser[]
}

/** The registry from store records: ids, scopes and the disabled flag only (never a hash). */
export function registryOf (clients: readonly ClientRecord[], users: readonly UserRecord[]): Registry {
  return {
    clients: clients.map((c) => ({ id: c.id, scopes: [...c.scopes], disabled: c.disabled })).sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    users: users.map((u) => ({ name: u.name, scopes: [...u.scopes], disabled: u.disabled })).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  }
}
