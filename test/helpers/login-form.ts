// The hosted login page over raw HTTP (Fastify inject): cookies kept like a browser's jar, the CSRF
// token read from the form, forms posted back with their hidden fields.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

export class Jar {
  readonly cookies = new Map<string, string>()
  take (res: LightMyRequestResponse): void {
    const raw = res.headers['set-cookie']
    for (const line of raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]) {
      const [pair = ''] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }

  header (): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }
}

/** The hidden and named inputs of the first form in `html`, in order. */
export function formFields (html: string): Array<[string, string]> {
  const unescape = (s: string): string => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
  return [...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((m) => [unescape(m[1]!), unescape(m[2]!)])
}

export async function get (app: FastifyInstance, url: string, jar: Jar, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const res = await app.inject({ method: 'GET', url, headers: { accept: 'text/html', cookie: jar.header(), ...headers } })
  jar.take(res)
  return res
}

export async function postForm (app: FastifyInstance, url: string, fields: Array<[string, string]>, jar: Jar, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const res = await app.inject({
    method: 'POST', url, payload: new URLSearchParams(fields).toString(),
    headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header(), ...headers }
  })
  jar.take(res)
  return res
}

/** Opens the authorization URL and posts the login form with these credentials. */
export async function loginThrough (app: FastifyInstance, authorizeUrl: string, jar: Jar, username: string, password: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const page = await get(app, authorizeUrl, jar, headers)
  if (page.statusCode !== 200) throw new Error(`login page: ${page.statusCode} ${page.body.slice(0, 200)}`)
  return await postForm(app, '/oauth/authorize', [...formFields(page.body), ['username', username], ['password', password]], jar, headers)
}
