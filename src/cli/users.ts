// `portcullis users add | passwd | set-scopes | disable | enable | list | revoke`, on REDIS_URL.
// `passwd` ends every session of the user (like `revoke`) unless --keep-sessions.
// Passwords come from stdin (one line) or a hidden prompt, never from argv; hashes are never printed.
import { Command } from 'commander'
import {
  addUser, disableUser, enableUser, getUser, listUsers, normalizeUserName, parseScopes, revokeUser,
  setPassword, setUserScopes, type UserView
} from '../oauth/accounts.js'
import { endSession, liveSessions } from '../oauth/sessions.js'
import type { SessionRecord } from '../store/types.js'
import { action, CliError, cliConventions, isoTime, output, readSecret, table, withStore } from './common.js'

interface JsonOpt { json?: boolean }
interface ScopesOpt extends JsonOpt { scopes: string }

/** The JSON shape of a user. */
function userJson (u: UserView): object {
  return { name: u.name, scopes: u.scopes, disabled: u.disabled, created_at: u.createdAt }
}

/** The JSON shape of a session. */
function sessionJson (s: SessionRecord): object {
  return { session: s.sid, client_id: s.clientId, created_at: s.createdAt, last_used_at: s.lastUsedAt, ip: s.ip, user_agent: s.userAgent, expires_at: s.expiresAt }
}

const scopeText = (scopes: string[]): string => scopes.length === 0 ? '(none)' : scopes.join(' ')

function describe (u: UserView, what: string): string {
  return `user ${u.name} ${what} (scopes: ${scopeText(u.scopes)}${u.disabled ? ', disabled' : ''})`
}

export function usersCommand (): Command {
  const users = new Command('users').description('manage users (password grant) in the store at REDIS_URL')

  users.command('add')
    .description('add a user; the password is read from stdin (one line) or prompted without echo')
    .argument('<name>', 'username: 1-64 of A-Z a-z 0-9 . _ @ - (case-insensitive, stored lowercase)')
    .requiredOption('--scopes <scopes>', 'space-separated scopes the user may be granted ("" for none)')
    .option('--json', 'print JSON')
    .action(action(async (name: string, opts: ScopesOpt) => {
      const key = normalizeUserName(name)
      const scopes = parseScopes(opts.scopes)
      await withStore(async (store, config) => {
        const password = await readSecret({ confirm: true })
        const user = await addUser(store, { name: key, password, scopes, cost: config.BCRYPT_COST })
        output(opts.json, userJson(user), () => describe(user, 'added'))
      })
    }))

  users.command('passwd')
    .description('set a user\'s password, read from stdin (one line) or prompted without echo; ends every session of the user')
    .argument('<name>', 'username')
    .option('--keep-sessions', 'keep the user\'s existing sessions (tokens issued before stay valid)')
    .option('--json', 'print JSON')
    .action(action(async (name: string, opts: JsonOpt & { keepSessions?: boolean }) => {
      await withStore(async (store, config) => {
        await getUser(store, name) // unknown user: fail before asking for a password
        const keepSessions = opts.keepSessions === true
        const user = await setPassword(store, name, await readSecret({ confirm: true }), config.BCRYPT_COST, { keepSessions })
        output(opts.json, { ...userJson(user), revoked_before: user.revokedBefore }, () => user.revokedBefore === null
          ? `password of user ${user.name} changed (existing sessions kept)`
          : `password of user ${user.name} changed: every token issued before ${isoTime(user.revokedBefore)} is refused`)
      })
    }))

  users.command('set-scopes')
    .description('replace the scopes a user may be granted')
    .argument('<name>', 'username')
    .requiredOption('--scopes <scopes>', 'space-separated scopes ("" for none)')
    .option('--json', 'print JSON')
    .action(action(async (name: string, opts: ScopesOpt) => {
      const scopes = parseScopes(opts.scopes)
      await withStore(async (store) => {
        const user = await setUserScopes(store, name, scopes)
        output(opts.json, userJson(user), () => describe(user, 'updated'))
      })
    }))

  users.command('disable')
    .description('refuse the user\'s logins and every token they hold, at once')
    .argument('<name>', 'username')
    .option('--json', 'print JSON')
    .action(action(async (name: string, opts: JsonOpt) => {
      await withStore(async (store) => {
        const user = await disableUser(store, name)
        output(opts.json, userJson(user), () => `user ${user.name} disabled: logins and existing tokens are refused`)
      })
    }))

  users.command('enable')
    .description('allow the user to log in again (tokens from before the disable stay refused)')
    .argument('<name>', 'username')
    .option('--json', 'print JSON')
    .action(action(async (name: string, opts: JsonOpt) => {
      await withStore(async (store) => {
        const user = await enableUser(store, name)
        output(opts.json, userJson(user), () => `user ${user.name} enabled`)
      })
    }))

  users.command('list')
    .description('list users (never their password hashes)')
    .option('--json', 'print JSON')
    .action(action(async (opts: JsonOpt) => {
      await withStore(async (store) => {
        const all = await listUsers(store)
        output(opts.json, all.map(userJson), () => all.length === 0
          ? 'no users'
          : table(['NAME', 'STATUS', 'CREATED', 'SCOPES'],
            all.map((u) => [u.name, u.disabled ? 'disabled' : 'active', isoTime(u.createdAt), scopeText(u.scopes)])))
      })
    }))

  users.command('sessions')
    .description('list the user\'s live sessions (one per refresh-token family): client, created, last use, IP, user agent')
    .argument('<name>', 'username')
    .option('--json', 'print JSON')
    .action(action(async (name: string, opts: JsonOpt) => {
      await withStore(async (store) => {
        const user = await getUser(store, name)
        const all = await liveSessions(store, user.name)
        output(opts.json, all.map(sessionJson), () => all.length === 0
          ? `user ${user.name} has no live sessions`
          : table(['SESSION', 'CLIENT', 'CREATED', 'LAST_USED', 'IP', 'USER_AGENT'],
            all.map((s) => [s.sid, s.clientId, isoTime(s.createdAt), isoTime(s.lastUsedAt), s.ip, s.userAgent])))
      })
    }))

  users.command('revoke')
    .description('end every session of the user (every token issued until now is refused), or one with --session')
    .argument('<name>', 'username')
    .option('--session <id>', 'end only this session (see `users sessions`): its refresh and access tokens are refused')
    .option('--json', 'print JSON')
    .action(action(async (name: string, opts: JsonOpt & { session?: string }) => {
      await withStore(async (store, config) => {
        if (opts.session !== undefined) {
          const user = await getUser(store, name)
          const sid = opts.session
          const ended = await endSession(store, user.name, sid, { nowS: Math.floor(Date.now() / 1000), accessTtl: config.ACCESS_TOKEN_TTL, clockSkew: config.CLOCK_SKEW })
          if (!ended) throw new CliError(`user ${user.name} has no live session ${JSON.stringify(sid)}`)
          output(opts.json, { name: user.name, session: sid, revoked: true }, () => `user ${user.name}: session ${sid} ended (its refresh and access tokens are refused)`)
          return
        }
        const r = await revokeUser(store, name)
        output(opts.json, { name: r.name, revoked_before: r.revokedBefore },
          () => `user ${r.name}: every token issued before ${isoTime(r.revokedBefore)} is refused`)
      })
    }))

  return cliConventions(users)
}
