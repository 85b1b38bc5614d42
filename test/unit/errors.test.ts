// STYLE.md: one table of error codes, and a test that keeps it and its docs in sync.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ERRORS } from '../../src/errors/codes.js'
import { GatewayError } from '../../src/errors/gateway-error.js'
import { toGatewayError } from '../../src/errors/handler.js'
import { ROOT_URL } from '../helpers/root.js'

const readme = readFileSync(new URL('README.md', ROOT_URL), 'utf8')

t.test('every error code has its README row, exactly as in the table', async (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.ok(readme.includes(`| \`${code}\` | ${spec.status} | \`${spec.error}\` | ${spec.description} |`), code)
  }
})

t.test('public descriptions are short restricted ASCII (RFC 6749 §5.2 error_description)', async (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.match(spec.description, /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,120}$/, code)
  }
})

t.test('library errors are mapped at the boundary; unknown ones become a generic 500', async (t) => {
  const tooLarge = toGatewayError(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }))
  t.equal(tooLarge.code, 'payload_too_large')
  t.equal(tooLarge.status, 413)
  const badUrl = toGatewayError(Object.assign(new Error("'/%c0' is not a valid url component"), { code: 'FST_ERR_BAD_URL', statusCode: 400 }))
  t.same(badUrl.body(), { error: 'invalid_request', error_description: 'Ambiguous or malformed request path' })
  const boom = toGatewayError(new TypeError('secret internals at /srv/app.js:12'))
  t.equal(boom.status, 500)
  t.same(boom.body(), { error: 'server_error', error_description: 'Internal error' }, 'no internals leak')
  const own = new GatewayError('scope_missing', { extra: { scope: 'a b' } })
  t.equal(toGatewayError(own), own)
  t.same(own.body(), { error: 'insufficient_scope', error_description: 'The access token lacks a required scope', scope: 'a b' })
})
