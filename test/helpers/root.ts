// The repository's root, whether this module runs from the sources (`npx tap FILE`, through tsx) or
// compiled under .tap/js/ (`npm test`, scripts/run-tests.mjs): files the tests read or start
// (README.md, routes.yaml, bin/, deploy/, fixtures) are named from here, not from the test's own URL.
import { fileURLToPath } from 'node:url'

const here = new URL('../../', import.meta.url)
/** The root as a file: URL ending in `/`, for `new URL('README.md', ROOT_URL)`. */
export const ROOT_URL = here.href.endsWith('/.tap/js/') ? new URL('../../', here) : here
/** The root as a file name ending in `/`. */
export const ROOT = fileURLToPath(ROOT_URL)
