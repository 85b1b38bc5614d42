// Types of find-my-way's path decoder (lib/url-sanitizer.js; the package types only its router), as
// route-trie.ts uses it: the same decoding Fastify's router applies.
declare module 'find-my-way/lib/url-sanitizer.js' {
  interface Sanitizer {
    /** Cuts the path at `?`/`#` and decodes it with decodeURI, reserved characters kept encoded; throws URIError. */
    safeDecodeURI (path: string, useSemicolonDelimiter: boolean): { path: string, querystring: string, shouldDecodeParam: boolean }
    /** Decodes the reserved characters safeDecodeURI kept encoded. */
    safeDecodeURIComponent (component: string): string
  }
  const sanitizer: Sanitizer
  export default sanitizer
}
