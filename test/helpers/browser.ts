// Headless Chromium (Debian's `chromium`, driven by playwright-core; no browser download) and the
// pieces of an RFC 8252 native-app flow around it: a loopback redirect URI served by the test, and
// the code exchange with oauth4webapi. ONE browser per test file (CPU budget): launch it once and
// open a fresh context per scenario (a context is a fresh cookie jar).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdirSync } from 'node:fs'
import * as oauth from 'oauth4webapi'
import { chromium, type Browser, type Page } from 'playwright-core'
import { ROOT_URL } from './root.js'

interface Teardown { teardown(fn: () => unknown): void }

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]

/** Playwright gives every launch a fresh temporary user-data-dir and removes it at close. */
export async function launchBrowser (t: Teardown): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await browser.close() })
  return browser
}

/** Where screenshots go on every run (gitignored with the rest of .tap/). */
export const SCREENSHOT_DIR = new URL('.tap/screenshots/', ROOT_URL)

export async function screenshot (page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true })
  const path = new URL(name, SCREENSHOT_DIR).pathname
  await page.screenshot({ path, fullPage: true })
  return path
}

/** RFC 8252 §7.3: the app's loopback redirect URI, on a port chosen at run time. */
export interface Loopback {
  /** e.g. http://127.0.0.1:40123/cb */
  redirectUri: string
  /** The next request the browser makes to it (the authorization response). */
  next(): Promise<URL>
}

export async function startLoopback (t: Teardown, path = '/cb'): Promise<Loopback> {
  let waiting: Array<(u: URL) => void> = []
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`)
    // only the redirect URI's path is a callback: the browser's own requests (/favicon.ico) are not
    if (url.pathname !== path) { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Done</title><p>You can return to the app.</p>')
    const w = waiting
    waiting = []
    for (const resolve of w) resolve(url)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => server.close(resolve)) })
  const { port } = server.address() as AddressInfo
  return {
    redirectUri: `http://127.0.0.1:${port}${path}`,
    next: async () => await new Promise<URL>((resolve) => { waiting.push(resolve) })
  }
}

export const insecure = { [oauth.allowInsecureRequests]: true } // plain http on loopback in tests only

/** The client side of one authorization (RFC 7636 §4.1-4.3): verifier, challenge, state, the URL to open. */
export async function authorizationUrl (as: oauth.AuthorizationServer, clientId: string, redirectUri: string, extra: Record<string, string> = {}): Promise<{ url: URL, verifier: string, state: string }> {
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const url = new URL(as.authorization_endpoint!)
  url.search = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra
  }).toString()
  return { url, verifier, state }
}

/**
 * RFC 6749 §4.1.3 through oauth4webapi: validates the callback (state, `iss` per RFC 9207) and
 * exchanges the code with the verifier. `options` goes to oauth4webapi as is, so a DPoP handle
 * (`{ DPoP: oauth.DPoP(client, keyPair) }`) makes it a DPoP-bound exchange (RFC 9449 §5).
 */
export async function exchangeCode (
  as: oauth.AuthorizationServer, client: oauth.Client, callback: URL, redirectUri: string, verifier: string, state: string,
  options: oauth.TokenEndpointRequestOptions = {}
): Promise<oauth.TokenEndpointResponse> {
  const params = oauth.validateAuthResponse(as, client, callback, state)
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, { ...insecure, ...options })
  return await oauth.processAuthorizationCodeResponse(as, client, response)
}

export async function discover (issuer: string): Promise<oauth.AuthorizationServer> {
  return await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }))
}
