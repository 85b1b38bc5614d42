// routes.yaml loading: every error kind is reported at FILE:LINE:COLUMN with its message, all of them
// at once; valid maps compile into frozen routes with defaults applied.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { compileRouteMap, loadRouteTable } from '../../src/config/route-map-loader.js'
import { RouteMapError, formatIssue, type RouteTable } from '../../src/config/route-types.js'
import { ROOT_URL } from '../helpers/root.js'

const FIXTURES = new URL('test/fixtures/routes/', ROOT_URL)
const HEAD = 'version: 1\nupstreams:\n  u: { url: http://127.0.0.1:9001 }\nroutes:\n' // routes start on line 5
const RESERVED = '(reserved: /oauth, /.well-known, /healthz, /readyz)'
const SCOPE_TOKEN = 'must be a scope token (RFC 6749 §3.3: printable ASCII, no space, " or \\)'

/** `LINE:COLUMN message` of every issue, or [] when the map compiles. */
function issues (text: string): string[] {
  try {
    compileRouteMap(text, 'routes.yaml')
    return []
  } catch (err) {
    if (!(err instanceof RouteMapError)) throw err
    return err.issues.map((i) => `${i.line}:${i.column} ${i.message}`)
  }
}

function compile (text: string): RouteTable {
  return compileRouteMap(text, 'routes.yaml')
}

const cases: Array<{ proves: string, yaml: string, expect: string[] }> = [
  // --- YAML syntax (positions from the parser)
  { proves: 'an unclosed flow map is a syntax error', yaml: 'version: 1\nupstreams: {\nroutes: []\n', expect: ['3:1 YAML: Flow map in block collection must be sufficiently indented and end with a }'] },
  { proves: 'tab indentation is refused', yaml: 'version: 1\nupstreams:\n\tu: 1\n', expect: ['3:1 YAML: Tabs are not allowed as indentation'] },
  { proves: 'a duplicate key is refused, not silently overwritten', yaml: 'version: 1\nversion: 1\nupstreams: {}\nroutes: []\n', expect: ['2:1 YAML: Map keys must be unique'] },
  { proves: 'one document per file', yaml: 'version: 1\n---\nversion: 1\n', expect: ['2:1 YAML: Source contains multiple documents; please use YAML.parseAllDocuments()'] },
  { proves: 'an empty file is refused', yaml: '# only a comment\n', expect: ['1:1 the route map is empty (expected version, upstreams and routes)'] },
  { proves: 'the root must be a mapping', yaml: '- a\n', expect: ['1:1 the route map: must be a mapping with version, upstreams and routes, got a list'] },

  // --- schema: version, required and unknown keys, types, enums
  { proves: 'version other than 1 is refused at its value', yaml: 'version: 2\nupstreams: {}\nroutes: []\n', expect: ['1:10 version: must be 1, got 2'] },
  { proves: 'version is a number, not a string', yaml: 'version: "1"\nupstreams: {}\nroutes: []\n', expect: ['1:10 version: must be 1, got "1"'] },
  {
    proves: 'missing top-level keys are reported at the root',
    yaml: 'upstreams: {}\n',
    expect: ['1:1 the route map: missing required key "version"', '1:1 the route map: missing required key "routes"']
  },
  { proves: 'an unknown top-level key is refused at the key', yaml: 'version: 1\nupstreams: {}\nroutes: []\nextra: true\n', expect: ['4:1 extra: unknown key (expected one of version, upstreams, defaults, routes, scopes)'] },
  {
    proves: 'an unknown route key is refused at the key',
    yaml: HEAD + '  - path: /a\n    upstream: u\n    timeout: 5s\n',
    expect: ['7:5 routes[0].timeout: unknown key (expected one of path, methods, upstream, auth, scopes, rate_limit, forward_token, body_limit)']
  },
  { proves: 'an unknown upstream key inside a flow map is refused at the key', yaml: 'version: 1\nupstreams:\n  u: { url: http://h, retries: 3 }\nroutes: []\n', expect: ['3:23 upstreams.u.retries: unknown key (expected one of url, timeout, ca, tls_verify)'] },
  {
    proves: 'a route missing path and upstream is reported at the route',
    yaml: HEAD + '  - methods: [GET]\n',
    expect: ['5:5 routes[0]: missing required key "path"', '5:5 routes[0]: missing required key "upstream"']
  },
  {
    proves: 'wrong types are reported at each value',
    yaml: HEAD + '  - path: /a\n    upstream: u\n    methods: GET\n    forward_token: "no"\n    scopes: read\n',
    expect: [
      '7:14 routes[0].methods: must be a non-empty list of methods (omit it for all methods), got "GET"',
      '8:20 routes[0].forward_token: must be true or false, got "no"',
      '9:13 routes[0].scopes: must be a list of scopes, got "read"'
    ]
  },
  {
    proves: 'methods are uppercase HTTP_METHODS and auth is one of three modes',
    yaml: HEAD + '  - path: /a\n    upstream: u\n    methods: [GET, get]\n    auth: maybe\n',
    expect: [
      '7:20 routes[0].methods[1]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS (uppercase), got "get"',
      '8:11 routes[0].auth: must be one of required, optional, none, got "maybe"'
    ]
  },
  {
    proves: 'methods may not be empty nor list a method twice',
    yaml: HEAD + '  - path: /a\n    upstream: u\n    methods: []\n  - path: /b\n    upstream: u\n    methods: [GET, POST, GET]\n',
    expect: [
      '7:14 routes[0].methods: must be a non-empty list of methods (omit it for all methods), got a list',
      '10:26 routes[1].methods[2]: GET is listed twice'
    ]
  },
  {
    proves: 'bad defaults are each reported',
    yaml: 'version: 1\nupstreams: {}\ndefaults:\n  auth: sometimes\n  rate_limit: 5\n  retries: 1\nroutes: []\n',
    expect: [
      '4:9 defaults.auth: must be one of required, optional, none, got "sometimes"',
      '5:15 defaults.rate_limit: must be a mapping { limit, window, by, mode } or off, got 5',
      '6:3 defaults.retries: unknown key (expected one of auth, rate_limit)'
    ]
  },

  // --- durations
  {
    proves: 'durations need a unit, must be positive, and are strings',
    yaml: 'version: 1\nupstreams:\n  a: { url: http://h, timeout: 5x }\n  b: { url: http://h, timeout: 0s }\n  c: { url: http://h, timeout: 5 }\nroutes: []\n',
    expect: [
      '3:32 upstreams.a.timeout: must be a duration like 250ms, 5s, 1m, 2h or 1d, got "5x"',
      '4:32 upstreams.b.timeout: must be more than zero, got "0s"',
      '5:32 upstreams.c.timeout: must be a duration like 250ms, 5s, 1m, 2h or 1d, got 5'
    ]
  },

  // --- upstreams
  {
    proves: 'upstream URLs are http(s) without query, fragment or credentials',
    yaml: 'version: 1\nupstreams:\n  a: { url: ftp://h }\n  b: { url: "http://h/x?y=1" }\n  c: { url: "http://h/#f" }\n  d: { url: "http://user:pw@h" }\n  e: { url: not a url }\n  f: { url: 9001 }\nroutes: []\n',
    expect: [
      '3:13 upstreams.a.url: "ftp://h" must use http: or https:, not ftp:',
      '4:13 upstreams.b.url: "http://h/x?y=1" must not have a query',
      '5:13 upstreams.c.url: "http://h/#f" must not have a fragment',
      '6:13 upstreams.d.url: "http://user:pw@h" must not carry credentials',
      '7:13 upstreams.e.url: "not a url" is not a valid URL',
      '8:13 upstreams.f.url: must be an http: or https: URL, got 9001'
    ]
  },
  { proves: 'upstream names start with a letter', yaml: 'version: 1\nupstreams:\n  9lives: { url: http://h }\nroutes: []\n', expect: ['3:3 upstreams: "9lives" is not a valid upstream name (letters, digits, _ . -; starting with a letter)'] },
  { proves: 'a route naming an unknown upstream is refused at the name', yaml: HEAD + '  - path: /a\n    upstream: nope\n', expect: ['6:15 routes[0].upstream: unknown upstream "nope" (defined: u)'] },

  // --- path grammar
  {
    proves: 'the path grammar refuses every malformed path at its value',
    yaml: HEAD + ['a', '/a/', '/a//b', '/a/./b', '/a/../b', '/a/*/b', '/a*', '/:1x', '/a/:x/:x', '/a b', '/a%20b', '/a/:x-y']
      .map((p) => `  - { path: "${p}", upstream: u }\n`).join(''),
    expect: [
      '5:13 routes[0].path: "a" must start with "/"',
      '6:13 routes[1].path: "/a/" must not end with "/" (write /prefix/* to match below a prefix)',
      '7:13 routes[2].path: "/a//b" must not contain empty segments ("//")',
      '8:13 routes[3].path: "/a/./b" must not contain "." or ".." segments',
      '9:13 routes[4].path: "/a/../b" must not contain "." or ".." segments',
      '10:13 routes[5].path: "/a/*/b" may use "*" only as the whole last segment',
      '11:13 routes[6].path: "/a*" may use "*" only as the whole last segment',
      '12:13 routes[7].path: "/:1x" has a bad parameter ":1x" (use :name, name of letters, digits and _)',
      '13:13 routes[8].path: "/a/:x/:x" uses the parameter :x twice',
      '14:13 routes[9].path: "/a b" has a segment "a b" with characters other than letters, digits and - . _ ~ ! $ & \' ( ) + , ; = : @',
      '15:13 routes[10].path: "/a%20b" has a segment "a%20b" with characters other than letters, digits and - . _ ~ ! $ & \' ( ) + , ; = : @',
      '16:13 routes[11].path: "/a/:x-y" has a bad parameter ":x-y" (use :name, name of letters, digits and _)'
    ]
  },

  // --- overlaps (reported on the later route, naming the earlier one's line)
  {
    proves: 'routes sharing a method may not match a common path; identical patterns are duplicates',
    yaml: HEAD +
      '  - path: /orders/*\n    methods: [GET, HEAD]\n    upstream: u\n' + // line 5
      '  - path: /orders/:id\n    methods: [HEAD, POST]\n    upstream: u\n' + // line 8
      '  - path: /a/:x\n    upstream: u\n' + // line 11
      '  - path: /a/b\n    methods: [DELETE]\n    upstream: u\n' + // line 13
      '  - path: /orders/*\n    methods: [GET]\n    upstream: u\n', // line 16
    expect: [
      '8:11 routes[1]: "/orders/:id" overlaps the route at line 5 ("/orders/*") on HEAD: a request could match both',
      '13:11 routes[3]: "/a/b" overlaps the route at line 11 ("/a/:x") on DELETE: a request could match both',
      '16:11 routes[4]: "/orders/*" duplicates the route at line 5 ("/orders/*") on GET'
    ]
  },
  {
    proves: 'a wildcard covers its bare prefix: /orders/* and /orders overlap',
    yaml: HEAD + '  - path: /orders/*\n    upstream: u\n  - path: /orders\n    methods: [GET]\n    upstream: u\n',
    expect: ['7:11 routes[1]: "/orders" overlaps the route at line 5 ("/orders/*") on GET: a request could match both']
  },
  {
    proves: 'param names do not make two patterns different',
    yaml: HEAD + '  - { path: "/a/:x", methods: [GET], upstream: u }\n  - { path: "/a/:y", methods: [GET], upstream: u }\n',
    expect: ['6:13 routes[1]: "/a/:y" duplicates the route at line 5 ("/a/:x") on GET']
  },

  // --- reserved paths
  {
    proves: 'routes may not equal, go below, or (through a param or wildcard) match the gateway\'s own paths',
    yaml: HEAD + ['/oauth', '/oauth/token', '/healthz', '/readyz/x', '/.well-known/jwks.json', '/*', '/:x/*', '/:x', '/:x/token', '/oauthx', '/OAuth/token']
      .map((p) => `  - { path: "${p}", methods: [GET], upstream: u }\n`).join(''),
    expect: [
      `5:13 routes[0].path: "/oauth" would shadow the gateway's own /oauth endpoints ${RESERVED}`,
      `6:13 routes[1].path: "/oauth/token" would shadow the gateway's own /oauth endpoints ${RESERVED}`,
      `7:13 routes[2].path: "/healthz" would shadow the gateway's own /healthz endpoints ${RESERVED}`,
      `8:13 routes[3].path: "/readyz/x" would shadow the gateway's own /readyz endpoints ${RESERVED}`,
      `9:13 routes[4].path: "/.well-known/jwks.json" would shadow the gateway's own /.well-known endpoints ${RESERVED}`,
      `10:13 routes[5].path: "/*" would shadow the gateway's own /oauth endpoints ${RESERVED}`,
      `11:13 routes[6].path: "/:x/*" would shadow the gateway's own /oauth endpoints ${RESERVED}`,
      `12:13 routes[7].path: "/:x" would shadow the gateway's own /oauth endpoints ${RESERVED}`,
      `13:13 routes[8].path: "/:x/token" would shadow the gateway's own /oauth endpoints ${RESERVED}`
      // /oauthx and /OAuth/token are other paths (segments match whole and case-sensitively)
    ]
  },

  // --- scopes and auth
  {
    proves: 'scopes need auth: required (own or inherited), and are RFC 6749 §3.3 scope tokens',
    yaml: 'version: 1\nupstreams:\n  u: { url: http://h }\ndefaults:\n  auth: optional\nroutes:\n' +
      '  - path: /a\n    upstream: u\n    scopes: [a]\n' + // line 7
      '  - path: /b\n    upstream: u\n    auth: none\n    scopes: [a]\n' + // line 10
      '  - path: /c\n    upstream: u\n    auth: required\n    scopes: ["a b", "x\\\\y", ""]\n', // line 14
    expect: [
      '9:5 routes[0].scopes: scopes need auth: required; this route has auth: optional (from defaults)',
      '13:5 routes[1].scopes: scopes need auth: required; this route has auth: none',
      `17:14 routes[2].scopes[0]: ${SCOPE_TOKEN}, got "a b"`,
      `17:21 routes[2].scopes[1]: ${SCOPE_TOKEN}, got "x\\\\y"`,
      `17:29 routes[2].scopes[2]: ${SCOPE_TOKEN}, got ""`
    ]
  },

  // --- rate limits
  {
    proves: 'rate limits are checked field by field; a limit by subject or client needs a caller identity',
    yaml: 'version: 1\nupstreams:\n  u: { url: http://h }\ndefaults:\n  rate_limit: { limit: 10, window: 1m, by: subject }\nroutes:\n' +
      '  - path: /a\n    upstream: u\n    auth: none\n' + // line 7
      '  - path: /b\n    upstream: u\n    auth: none\n    rate_limit: { limit: 1, window: 1s, by: client }\n' + // line 10
      '  - path: /c\n    upstream: u\n    rate_limit: on\n' + // line 14
      '  - path: /d\n    upstream: u\n    rate_limit: { limit: 0, window: 0s, by: me, burst: 2 }\n' + // line 17
      '  - path: /e\n    upstream: u\n    rate_limit: { limit: 1.5, window: 1m }\n' + // line 20
      '  - path: /f\n    upstream: u\n    rate_limit: { limit: 5, window: 1m, by: ip, mode: fast }\n', // line 23
    expect: [
      '9:11 routes[0]: auth: none but the default rate_limit is by subject; give this route a rate_limit by ip, or off',
      '13:45 routes[1].rate_limit.by: client needs an authenticated caller; this route has auth: none (use by: ip)',
      '16:17 routes[2].rate_limit: must be a mapping { limit, window, by, mode } or off, got "on"',
      '19:26 routes[3].rate_limit.limit: must be a whole number of requests, at least 1, got 0',
      '19:37 routes[3].rate_limit.window: must be more than zero, got "0s"',
      '19:45 routes[3].rate_limit.by: must be one of subject, client, ip, got "me"',
      '19:49 routes[3].rate_limit.burst: unknown key (expected one of limit, window, by, mode)',
      '22:17 routes[4].rate_limit: missing required key "by"',
      '22:26 routes[4].rate_limit.limit: must be a whole number of requests, at least 1, got 1.5',
      '25:55 routes[5].rate_limit.mode: must be one of batched, exact, got "fast"'
    ]
  }
]

for (const c of cases) {
  t.test(c.proves, async (t) => {
    t.same(issues(c.yaml), c.expect)
  })
}

t.test('more than TypeBox\'s default 8 schema errors are all reported', async (t) => {
  const routes = Array.from({ length: 12 }, (_, i) => `  - { path: /r${i}, upstream: u, bogus: ${i} }\n`).join('')
  const found = issues(HEAD + routes)
  t.equal(found.length, 12)
  t.equal(found[11], '16:32 routes[11].bogus: unknown key (expected one of path, methods, upstream, auth, scopes, rate_limit, forward_token, body_limit)')
})

t.test('RouteMapError lists issues as FILE:LINE:COLUMN message lines', async (t) => {
  const err = t.throws(() => compileRouteMap('version: 3\nupstreams: {}\nroutes: []\n', 'conf/routes.yaml')) as RouteMapError
  t.equal(err.name, 'RouteMapError')
  t.same(err.issues, [{ file: 'conf/routes.yaml', line: 1, column: 10, message: 'version: must be 1, got 3' }])
  t.equal(err.message, 'conf/routes.yaml:1:10 version: must be 1, got 3')
  t.equal(formatIssue(err.issues[0]!), err.message)
})

t.test('valid maps', async (t) => {
  t.test('the bundled routes.yaml compiles', async (t) => {
    const table = await loadRouteTable(new URL('routes.yaml', ROOT_URL).pathname)
    t.same(table.routes.map((r) => r.id), [
      'GET,HEAD /orders/*', 'POST,PUT,PATCH,DELETE /orders/*',
      'GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS /catalog/*', 'GET,HEAD /profile/*'
    ])
    t.same([...table.upstreams.keys()], ['orders', 'catalog'])
    t.same(table.routes.map((r) => r.auth), ['required', 'required', 'none', 'optional'])
  })

  const table = compile(readFileSync(new URL('valid.yaml', FIXTURES), 'utf8'))
  const [read, write, options, catalog, profile] = table.routes

  t.test('methods are sorted in HTTP_METHODS order, and the id is `METHODS path`', async (t) => {
    t.same(read!.methods, ['GET', 'HEAD'])
    t.equal(read!.id, 'GET,HEAD /orders/*')
    t.same(catalog!.methods, ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], 'omitted = all methods')
  })

  t.test('upstreams: origin, base path without trailing slash, timeout (default 30s)', async (t) => {
    t.same(table.upstreams.get('orders'), { name: 'orders', origin: 'http://127.0.0.1:9001', basePath: '', timeoutMs: 5000 })
    t.same(table.upstreams.get('catalog'), { name: 'catalog', origin: 'https://catalog.internal:8443', basePath: '/api/v2', timeoutMs: 30_000 })
    t.equal(read!.upstream, table.upstreams.get('orders'), 'routes share the compiled upstream')
  })

  t.test('defaults apply unless a route sets its own value', async (t) => {
    t.equal(read!.auth, 'required')
    t.same(read!.rateLimit, { limit: 600, windowMs: 60_000, by: 'subject', mode: 'batched' }, 'mode: batched unless set')
    t.same(write!.scopes, ['orders:write', 'orders:read'])
    t.equal(options!.rateLimit, null, 'rate_limit: off')
    t.same(catalog!.rateLimit, { limit: 60, windowMs: 30_000, by: 'ip', mode: 'exact' })
    t.equal(catalog!.auth, 'none')
    t.same(catalog!.scopes, [], 'no scopes: any valid token')
    t.equal(profile!.rateLimit, null, 'rate_limit: false')
    t.equal(profile!.forwardToken, false)
    t.equal(read!.forwardToken, true, 'forward_token defaults to true')
  })

  t.test('without defaults, auth is required and nothing is rate-limited', async (t) => {
    const [r] = compile(HEAD + '  - { path: /a, upstream: u }\n').routes
    t.equal(r!.auth, 'required')
    t.equal(r!.rateLimit, null)
  })

  t.test('different methods may share or overlap a path', async (t) => {
    t.same(issues(HEAD + '  - { path: /a/*, methods: [GET], upstream: u }\n  - { path: "/a/:id", methods: [POST], upstream: u }\n  - { path: /a, methods: [PUT], upstream: u }\n'), [])
  })

  t.test('YAML anchors and aliases resolve', async (t) => {
    const aliased = compile('version: 1\nupstreams:\n  u: &U { url: http://h }\n  v: *U\nroutes:\n  - { path: /a, upstream: v }\n')
    t.equal(aliased.routes[0]!.upstream.origin, 'http://h')
  })

  t.test('the compiled table is frozen', async (t) => {
    t.ok(Object.isFrozen(table))
    t.ok(Object.isFrozen(table.routes))
    t.ok(Object.isFrozen(read) && Object.isFrozen(read!.methods) && Object.isFrozen(read!.scopes) && Object.isFrozen(read!.rateLimit))
    t.ok(Object.isFrozen(read!.upstream))
    t.throws(() => { (table.upstreams as Map<string, unknown>).set('x', null) }, TypeError)
    t.throws(() => { (table.upstreams as Map<string, unknown>).delete('orders') }, TypeError)
    t.equal(table.upstreams.size, 2)
  })
})

t.test('loadRouteTable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-route-map-'))

  t.test('a missing file is an issue at 1:1', async (t) => {
    const file = join(dir, 'absent.yaml')
    const err = await t.rejects(loadRouteTable(file)) as unknown as RouteMapError
    t.type(err, RouteMapError)
    t.same(err.issues, [{ file, line: 1, column: 1, message: 'cannot read the route map: no such file' }])
  })

  t.test('a directory is an issue at 1:1', async (t) => {
    const err = await t.rejects(loadRouteTable(dir)) as unknown as RouteMapError
    t.same(err.issues.map((i) => i.message), ['cannot read the route map: it is a directory'])
  })

  t.test('issues name the file as given', async (t) => {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'version: 1\nupstreams: {}\nroutes: 3\n')
    const err = await t.rejects(loadRouteTable(file)) as unknown as RouteMapError
    t.same(err.issues, [{ file, line: 3, column: 9, message: 'routes: must be a list of routes, got 3' }])
  })

  t.test('a valid file loads', async (t) => {
    const table = await loadRouteTable(new URL('valid.yaml', FIXTURES).pathname)
    t.equal(table.routes.length, 5)
    t.match(table.file, /valid\.yaml$/)
  })
})

// --- input limits and upstream TLS (issue 5: body_limit, ca, tls_verify)

t.test('body_limit: a size with units, binary multiples; absent means MAX_BODY_SIZE', async (t) => {
  const table = compile(HEAD +
    '  - { path: /a, upstream: u, body_limit: 512kb }\n' +
    '  - { path: /b, upstream: u, body_limit: 1mb }\n' +
    '  - { path: /c, upstream: u, body_limit: 0b }\n' +
    '  - { path: /d, upstream: u }\n')
  t.same(table.routes.map((r) => r.bodyLimit), [512 * 1024, 1024 * 1024, 0, undefined])
})

t.test('body_limit: bad sizes are positioned issues', async (t) => {
  t.same(issues(HEAD +
    '  - { path: /a, upstream: u, body_limit: 10 MB }\n' + // line 5
    '  - { path: /b, upstream: u, body_limit: 1.5mb }\n' +
    '  - { path: /c, upstream: u, body_limit: 1024 }\n' +
    '  - { path: /d, upstream: u, body_limit: 99999999999gb }\n'), [
    '5:42 routes[0].body_limit: must be a size like 512kb, 1mb or 1gb, got "10 MB"',
    '6:42 routes[1].body_limit: must be a size like 512kb, 1mb or 1gb, got "1.5mb"',
    '7:42 routes[2].body_limit: must be a size like 512kb, 1mb or 1gb, got 1024',
    '8:42 routes[3].body_limit: is too large, got "99999999999gb"'
  ])
})

t.test('upstream TLS keys', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-ca-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=test CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem')], { stdio: 'ignore' })
  writeFileSync(join(dir, 'not-pem.txt'), 'hello\n')
  writeFileSync(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
  const file = join(dir, 'routes.yaml')
  const load = (upstreams: string): RouteTable => compileRouteMap(`version: 1\nupstreams:\n${upstreams}routes: []\n`, file)
  const problems = (upstreams: string): string[] => {
    try {
      load(upstreams)
      return []
    } catch (err) {
      return (err as RouteMapError).issues.map((i) => `${i.line}:${i.column} ${i.message}`)
    }
  }

  t.test('ca is read relative to the route map and replaces the system CAs', async (t) => {
    const up = load('  a: { url: "https://127.0.0.1:8443", ca: ./ca.pem }\n').upstreams.get('a')!
    t.equal(up.tls?.verify, true)
    t.equal(up.tls?.caFile, join(dir, 'ca.pem'))
    t.match(up.tls?.ca, /^-----BEGIN CERTIFICATE-----/)
    t.ok(Object.isFrozen(up.tls))
  })

  t.test('tls_verify: false is explicit; true alone is the default (no tls entry)', async (t) => {
    const table = load('  a: { url: "https://a.internal", tls_verify: false }\n  b: { url: "https://b.internal", tls_verify: true }\n  c: { url: "https://c.internal" }\n')
    t.same(table.upstreams.get('a')!.tls, { ca: undefined, caFile: undefined, verify: false })
    t.equal(table.upstreams.get('b')!.tls, undefined)
    t.equal(table.upstreams.get('c')!.tls, undefined)
  })

  t.test('a bad ca, TLS keys on http:, contradictions and per-origin clashes are positioned issues', async (t) => {
    t.same(problems(
      '  a: { url: "https://h1", ca: ./absent.pem }\n' + // line 3
      '  b: { url: "https://h2", ca: ./not-pem.txt }\n' +
      '  c: { url: "https://h3", ca: ./broken.pem }\n' +
      '  d: { url: "http://h4", ca: ./ca.pem }\n' +
      '  e: { url: "http://h5", tls_verify: false }\n' +
      '  f: { url: "https://h6", ca: ./ca.pem, tls_verify: false }\n' +
      '  g: { url: "https://h7", tls_verify: maybe }\n' +
      '  h: { url: "https://h8/x" }\n' +
      '  i: { url: "https://h8/y", tls_verify: false }\n'), [
      `3:31 upstreams.a.ca: "./absent.pem" cannot be read: no such file (${join(dir, 'absent.pem')})`,
      `4:31 upstreams.b.ca: "./not-pem.txt" holds no PEM certificate (${join(dir, 'not-pem.txt')})`,
      `5:31 upstreams.c.ca: "./broken.pem" holds a certificate that cannot be parsed (${join(dir, 'broken.pem')})`,
      '6:26 upstreams.d.ca: applies to https: upstreams only',
      '7:26 upstreams.e.tls_verify: applies to https: upstreams only',
      '8:41 upstreams.f.tls_verify: false would ignore ca; keep one of them',
      '9:39 upstreams.g.tls_verify: must be true or false, got "maybe"',
      '11:3 upstreams.i: shares the origin https://h8 with upstreams.h but not its ca and tls_verify settings'
    ])
  })
})
