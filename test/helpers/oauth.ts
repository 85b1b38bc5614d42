// Builds a bare Fastify app with only the authorization server, seeds users and clients, gets tokens.
import type { Test } from 'tap'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { loadConfig, type Config } from '../../src/config/env.js'
import { registerErrorHandler } from '../../src/errors/handler.js'
import { KeyRing } from '../../src/oauth/keys.js'
import { hashSecret } from '../../src/oauth/passwords.js'
import { oauthPlugin } from '../../src/oauth/plugin.js'
import { createStore } from '../../src/store/index.js'
import type { Store } from '../../src/store/types.js'

interface Teardown { teardown(fn: () => unknown): void }

export const quietLogger = { info () {}, warn () {}, error () {} }

export interface OAuthTestApp {
  app: FastifyInstance
  store: Store
  keys: KeyRing
  config: Readonly<Config>
}

/** Fastify + the shared error handler + oauthPlugin; closed in teardown. Listens only when asked. */
export async function buildOAuthApp (t: Teardown, opts: {
  store?: Store
  /** A ring loaded elsewhere (e.g. when `store` is a dead Redis). */
  keys?: KeyRing
  env?: Record<string, string>
  now?: () => number
  listen?: boolean
  /** Fastify's trustProxy (e.g. true: X-Forwarded-Proto decides request.protocol). */
  trustProxy?: boolean
  /** What the route map's `scopes` section gives the consent page (src/app.ts passes the live map's). */
  scopeDescriptions?: ReadonlyMap<string, string>
} = {}): Promise<OAuthTestApp> {
  const config = loadConfig({ BCRYPT_COST: '4', ISSUER: 'https://as.example', AUDIENCE: 'portcullis', ...opts.env })
  const store = opts.store ?? createStore({ timeoutMs: 1000 })
  const keys = opts.keys ?? await KeyRing.load(store, { alg: config.SIGNING_ALG, logger: quietLogger, refreshIntervalMs: 0, ...(opts.now !== undefined && { now: opts.now }) })
  const app = Fastify({ trustProxy: opts.trustProxy ?? false })
  registerErrorHandler(app)
  const descriptions = opts.scopeDescriptions
  await app.register(oauthPlugin, {
    config, store, keys, ...(opts.now !== undefined && { now: opts.now }), ...(descriptions !== undefined && { scopeDescriptions: () => descriptions })
  })
  if (opts.listen === true) await app.listen({ port: Number(config.PORT), host: '127.0.0.1' })
  else await app.ready()
  t.teardown(async () => {
    await app.close()
    if (opts.keys === undefined) keys.close()
    if (opts.store === undefined) await store.close()
  })
  return { app, store, keys, config }
}

export async function seedUser (store: Store, name: string, password: string, scopes: string[], opts: { disabled?: boolean } = {}): Promise<void> {
  await store.putUser({ name, passwordHash: await hashSecret(password, 4), scopes, disabled: opts.disabled ?? false, createdAt: 0 })
}

/** A confidential client when `secret` is given, otherwise public. */
export async function seedClient (store: Store, id: string, opts: { secret?: string, grants: string[], scopes: string[], disabled?: boolean }): Promise<void> {
  await store.putClient({
    id,
    secretHash: opts.secret === undefined ? null : await hashSecret(opts.secret, 4),
    grants: opts.grants,
    scopes: opts.scopes,
    disabled: opts.disabled ?? false,
    createdAt: 0
  })
}

/** RFC 6749 §2.3.1: form-urlencode id and secret, then base64 "id:secret". */
export function basic (id: string, secret: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+')
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')
}

export function form (params: Record<string, string>): string {
  return new URLSearchParams(params).toString()
}

/** POST a form to `url`, with optional extra headers. */
export async function post (app: FastifyInstance, url: string, params: Record<string, string> | string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: typeof params === 'string' ? params : form(params)
  })
}

/** The standard fixture: user alice (read write admin), confidential `web` (all grants), public `spa`, service `svc`. */
export const FIXTURE = {
  user: 'alice',
  password: 'correct horse battery staple',
  webSecret: 'web-secret: with %+ and space',
  svcSecret: 'svc-secret'
} as const

export async function seedFixture (store: Store): Promise<void> {
  await seedUser(store, FIXTURE.user, FIXTURE.password, ['read', 'write', 'admin'])
  await seedClient(store, 'web', { secret: FIXTURE.webSecret, grants: ['password', 'refresh_token'], scopes: ['read', 'write'] })
  await seedClient(store, 'spa', { grants: ['password', 'refresh_token'], scopes: ['read'] })
  await seedClient(store, 'svc', { secret: FIXTURE.svcSecret, grants: ['client_credentials'], scopes: ['read', 'reports'] })
}

export interface Tokens { access_token: string, refresh_token?: string, scope: string, expires_in: number, token_type: string }

/** Password grant as `web`; fails the test loudly when it is not 200. */
export async function passwordTokens (app: FastifyInstance, extra: Record<string, string> = {}): Promise<Tokens> {
  const res = await post(app, '/oauth/token', { grant_type: 'password', username: FIXTURE.user, password: FIXTURE.password, ...extra }, { authorization: basic('web', FIXTURE.webSecret) })
  if (res.statusCode !== 200) throw new Error(`password grant failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export async function refresh (app: FastifyInstance, refreshToken: string, extra: Record<string, string> = {}, client: [string, string] = ['web', FIXTURE.webSecret]): Promise<LightMyRequestResponse> {
  return await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, { authorization: basic(client[0], client[1]) })
}

/** Decodes a JWT segment without verifying (for assertions only). */
export function decodeSegment (token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index] ?? '', 'base64url').toString('utf8'))
}

/** A RedisStore on `url` that answered PING (prefix keeps tests of one file apart). */
export async function readyRedisStore (url: string, prefix: string): Promise<Store> {
  const { RedisStore } = await import('../../src/store/index.js')
  const store = new RedisStore({ url, timeoutMs: 1000, prefix })
  if (!await store.ready(5000)) throw new Error('test redis did not become ready')
  return store
}


/**
 * Runs `suite` twice: against the memory store and against a private real Redis (the protocol must
 * not depend on which store is behind it). `makeStore` gives each test a fresh store.
 */
export async function onEveryStore (t: Test, suite: (t: Test, makeStore: (t: Teardown) => Promise<Store>) => Promise<void>): Promise<void> {
  await t.test('memory store', async (t) => {
    await suite(t, async () => createStore({ timeoutMs: 1000 }))
  })
  await t.test('redis store', async (t) => {
    const { startRedis } = await import('./redis-server.js')
    const redis = await startRedis()
    t.teardown(async () => { await redis.stop() })
    let n = 0
    await suite(t, async (tt) => {
      const store = await readyRedisStore(redis.url, `p${n++}:`)
      tt.teardown(async () => { await store.close() })
      return store
    })
  })
}
