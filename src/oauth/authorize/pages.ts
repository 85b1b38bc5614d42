// The hosted login page and its siblings, rendered on the server as plain HTML: no script at all, so
// it works without JavaScript and a strict CSP holds (headers.ts). Every value that came from a
// request goes through `escape` (SECURITY.md W05). Readable at 360 px (login.css), labelled fields,
// errors tied to their fields with aria-describedby, visible focus.

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** HTML-escapes text for element content and double-quoted attribute values. */
export function escape (text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!)
}

export const STYLESHEET_PATH = '/oauth/assets/login.css'

function layout (title: string, main: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escape(title)}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<main>
${main}
</main>
</body>
</html>
`
}

/** Hidden inputs carrying the authorization request (and the CSRF token) through a form. */
function hidden (fields: ReadonlyArray<readonly [string, string]>): string {
  return fields.map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`).join('\n')
}

export interface LoginPage {
  clientId: string
  /** The authorization request's parameters, sent back with the form. */
  params: ReadonlyArray<readonly [string, string]>
  csrf: string
  username?: string | undefined
  error?: 'credentials' | 'throttled' | 'missing' | undefined
}

const LOGIN_ERRORS = {
  credentials: 'The username or password is incorrect.',
  throttled: 'Too many attempts. Wait a few minutes, then try again.',
  missing: 'Enter your username and password.'
} as const

export function loginPage (p: LoginPage): string {
  const error = p.error === undefined ? '' : `<p class="error" id="login-error" role="alert">${escape(LOGIN_ERRORS[p.error])}</p>\n`
  const described = p.error === undefined ? '' : ' aria-describedby="login-error" aria-invalid="true"'
  return layout('Sign in', `<h1>Sign in</h1>
<p class="client">to continue to <strong>${escape(p.clientId)}</strong></p>
${error}<form method="post" action="/oauth/authorize">
${hidden([...p.params, ['_csrf', p.csrf]])}
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="64" value="${escape(p.username ?? '')}"${described}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="72"${described}>
<button type="submit">Sign in</button>
</form>`)
}

export interface ConsentPage {
  clientId: string
  username: string
  scopes: ReadonlyArray<{ name: string, description: string | undefined }>
  params: ReadonlyArray<readonly [string, string]>
  csrf: string
}

export function consentPage (p: ConsentPage): string {
  const items = p.scopes.length === 0
    ? '<li>Your identity only (no other access)</li>'
    : p.scopes.map((s) => `<li><code>${escape(s.name)}</code>${s.description === undefined ? '' : `: ${escape(s.description)}`}</li>`).join('\n')
  return layout('Allow access?', `<h1>Allow access?</h1>
<p class="client"><strong>${escape(p.clientId)}</strong> asks to act as <strong>${escape(p.username)}</strong> with these permissions:</p>
<ul class="scopes">
${items}
</ul>
<form method="post" action="/oauth/consent">
${hidden([...p.params, ['_csrf', p.csrf]])}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`)
}

export function errorPage (title: string, message: string, detail?: string): string {
  const more = detail === undefined ? '' : `\n<p class="detail">${escape(detail)}</p>`
  return layout(title, `<h1>${escape(title)}</h1>
<p class="error" role="alert">${escape(message)}</p>${more}
<p>Return to the app and start again. If this keeps happening, contact the app's developer.</p>`)
}

export function logoutPage (csrf: string, signedIn: boolean): string {
  if (!signedIn) return layout('Signed out', '<h1>Signed out</h1>\n<p>You are not signed in here.</p>')
  return layout('Sign out', `<h1>Sign out</h1>
<p>End your sign-in on this device? Apps keep the access they already have until it expires or is revoked.</p>
<form method="post" action="/oauth/logout">
${hidden([['_csrf', csrf]])}
<button type="submit">Sign out</button>
</form>`)
}

/** Small, external (no inline style under the CSP), readable at 360 px, with a visible focus ring. */
export const STYLESHEET = `*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:100%;line-height:1.5;color:#1b1b1b;background:#f4f5f7}
body{margin:0;padding:1rem}
main{max-width:26rem;margin:2rem auto;padding:1.5rem;background:#fff;border:1px solid #d0d4da;border-radius:.5rem}
h1{font-size:1.5rem;margin:0 0 .5rem}
label{display:block;margin:1rem 0 .25rem;font-weight:600}
input[type=text],input[type=password]{display:block;width:100%;padding:.75rem;font-size:1rem;border:1px solid #6b7280;border-radius:.25rem}
input[aria-invalid=true]{border-color:#b00020;border-width:2px}
button{display:block;width:100%;margin-top:1.25rem;padding:.75rem;font-size:1rem;font-weight:600;color:#fff;background:#1d4ed8;border:0;border-radius:.25rem;cursor:pointer}
button.secondary{color:#1d4ed8;background:#fff;border:2px solid #1d4ed8}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.error{color:#b00020;font-weight:600}
.client,.detail{color:#374151;overflow-wrap:anywhere}
.scopes code{font-weight:600}
`
