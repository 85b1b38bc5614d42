// One path, one decision: the request target is normalised ONCE here, and the result is both
// what the route table matches (and so what the scope decision is made on) and what the
// upstream receives. Anything ambiguous is refused rather than guessed
// (SECURITY.md, P rows: ambiguous encodings are refused).
//
// Rules (RFC 3986 §2, §3.3, §6.2.2):
// - origin-form only (`/path?query`); absolute-form, authority-form and `*` are refused;
// - raw bytes outside RFC 3986 pchar / "/" are refused (space, CTLs, `\`, `#`, non-ASCII, `"` ...);
// - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded (§6.2.2.2), every
//   other triplet is kept with upper-case hex (§6.2.2.1);
// - encoded `/` `\` `%` (double encoding), NUL and other CTLs are refused: they mean different
//   things to different upstreams;
// - the decoded path must be valid UTF-8 (no overlong forms);
// - dot segments (`.`, `..`, also `..;params`) and empty segments (`//`) are refused;
// - so is every segment that starts or ends with `..` (`..hidden`, `...`, `a..`). Only exact `.`
//   and `..` are dot segments (RFC 3986 §3.3), but the forwarding library of the time
//   (@fastify/reply-from) refused any path containing `/..` or `../`, and other proxies and
//   upstreams may still read them as dot segments; refusing them here keeps the one decision in
//   one place (issue 9 item 10).

export type CanonicalResult =
  | { ok: true; path: string; query: string }
  | { ok: false; reason: string }

// RFC 3986 pchar minus "%" (handled separately), plus "/".
// unreserved: A-Z a-z 0-9 - . _ ~ ; sub-delims: ! $ & ' ( ) * + , ; = ; plus : @
const ALLOWED = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/") {
  ALLOWED[c.charCodeAt(0)] = 1
}
const UNRESERVED = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') {
  UNRESERVED[c.charCodeAt(0)] = 1
}

function hexValue (code: number): number {
  // Stryker disable next-line ConditionalExpression: dropping `code >= 48` changes nothing: below '0', code - 48 is negative and refused like -1
  if (code >= 48 && code <= 57) return code - 48
  if (code >= 65 && code <= 70) return code - 55
  if (code >= 97 && code <= 102) return code - 87
  return -1
}

const HEX = '0123456789ABCDEF'

/** Normalises a raw request target. Pure; never throws. */
export function canonicalize (rawUrl: string): CanonicalResult {
  // Stryker disable next-line ConditionalExpression: without the length test '' is refused all the same (charCodeAt(0) is NaN)
  if (rawUrl.length === 0 || rawUrl.charCodeAt(0) !== 47 /* / */) {
    return { ok: false, reason: 'request target is not origin-form' }
  }
  const q = rawUrl.indexOf('?')
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q)
  const query = q === -1 ? '' : rawUrl.slice(q + 1)

  // up to the first `%` (most paths have none) the path is only checked, and then taken as is: no string is built
  const firstPercent = rawPath.indexOf('%')
  const plainEnd = firstPercent === -1 ? rawPath.length : firstPercent
  for (let i = 0; i < plainEnd; i++) {
    const c = rawPath.charCodeAt(i)
    // Stryker disable next-line ConditionalExpression,EqualityOperator: ALLOWED[c] is undefined from 128 on, so the range test only saves a lookup
    if (c >= 128 || ALLOWED[c] !== 1) return { ok: false, reason: 'character not allowed in path' }
  }
  let out = rawPath.slice(0, plainEnd)
  // Stryker disable next-line BooleanLiteral: false only adds a UTF-8 check of a path with no triplet left, which always passes
  let plain = true // no percent-triplets kept: the decoded form equals `out`
  for (let i = plainEnd; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i)
    if (c === 37 /* % */) {
      const h = hexValue(rawPath.charCodeAt(i + 1))
      const l = hexValue(rawPath.charCodeAt(i + 2))
      if (h < 0 || l < 0) return { ok: false, reason: 'malformed percent-encoding' }
      const byte = h * 16 + l
      i += 2
      // Stryker disable next-line ConditionalExpression,EqualityOperator: UNRESERVED[byte] is undefined from 128 on, so the range test only saves a lookup
      if (byte < 128 && UNRESERVED[byte] === 1) {
        out += String.fromCharCode(byte)
        continue
      }
      if (byte === 0x2f || byte === 0x5c) return { ok: false, reason: 'encoded slash or backslash' }
      if (byte === 0x25) return { ok: false, reason: 'encoded percent sign (double encoding)' }
      if (byte < 0x20 || byte === 0x7f) return { ok: false, reason: 'encoded control character' }
      out += '%' + HEX[h] + HEX[l]
      plain = false
      continue
    }
    // Stryker disable next-line ConditionalExpression,EqualityOperator: ALLOWED[c] is undefined from 128 on, so the range test only saves a lookup
    if (c >= 128 || ALLOWED[c] !== 1) return { ok: false, reason: 'character not allowed in path' }
    out += rawPath[i]
  }

  // Stryker disable next-line ConditionalExpression: checking a path with no triplet left always passes (see `plain`)
  if (!plain) {
    try {
      decodeURIComponent(out) // throws on invalid or overlong UTF-8
    } catch {
      return { ok: false, reason: 'invalid UTF-8 in path' }
    }
  }

  // segments: no empty ones (but a single trailing slash is fine), no dot segments
  const segments = out.split('/')
  for (let s = 1; s < segments.length; s++) {
    const seg = segments[s]!
    if (seg === '') {
      if (s === segments.length - 1) break
      return { ok: false, reason: 'empty path segment' }
    }
    // Stryker disable next-line ConditionalExpression: a fast path only; the name test below refuses nothing that does not start with `.`
    if (seg.charCodeAt(0) === 46 /* . */) {
      const name = seg.split(';', 1)[0]
      if (name === '.' || name === '..') return { ok: false, reason: 'dot segment in path' }
      if (seg.startsWith('..')) return { ok: false, reason: 'path segment starting with ..' }
    }
    if (seg.endsWith('..')) return { ok: false, reason: 'path segment ending with ..' }
  }

  // Stryker disable next-line EqualityOperator: i <= length only adds charCodeAt(length), NaN, which no test refuses
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i)
    if (c <= 0x20 || c === 0x7f || c === 35 /* # */ || c >= 128) return { ok: false, reason: 'character not allowed in query' }
  }

  return { ok: true, path: out, query }
}
