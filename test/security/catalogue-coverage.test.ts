// SECURITY.md's coverage table cannot rot: every id of the security catalogue has exactly one row,
// and every row that names a test points at a file that exists and contains that test name (the
// quoted title, or the `proves` sentence of a table-driven row). The catalogue is read from
// ../shared/research/security-catalogue.md beside the repository when it is there (CI clones it
// there); otherwise the id ranges SECURITY.md embeds stand in for it.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { ROOT_URL } from '../helpers/root.js'

const root = ROOT_URL
const security = readFileSync(new URL('SECURITY.md', root), 'utf8')
const catalogueUrl = new URL('../shared/research/security-catalogue.md', root)
const ID = /^[JTPSHFD]\d{2}$/
const STATUSES = new Set(['covered', 'deviation', 'n/a'])

/** `<!-- catalogue-ids: J01-J73 T01-T66 ... -->` → every id in those ranges. */
function embeddedIds (): string[] {
  const m = /<!-- catalogue-ids: ([^>]*?) -->/.exec(security)
  if (m === null) return []
  const ids: string[] = []
  for (const range of m[1]!.trim().split(/\s+/)) {
    const r = /^([A-Z])(\d{2})-\1(\d{2})$/.exec(range)
    if (r === null) throw new Error(`bad range ${range}`)
    for (let n = Number(r[2]); n <= Number(r[3]); n++) ids.push(`${r[1]}${String(n).padStart(2, '0')}`)
  }
  return ids
}

/** Every `| J01 | …` first cell of the catalogue's tables, once each, in order. */
function catalogueIds (text: string): string[] {
  return [...new Set([...text.matchAll(/^\| ([JTPSHFD]\d{2}) \|/gm)].map((m) => m[1]!))]
}

interface Row { id: string, status: string, file: string | null, title: string | null, note: string, line: number }

function coverageRows (): Row[] {
  const rows: Row[] = []
  security.split('\n').forEach((text, i) => {
    const cells = /^\| ([JTPSHFD]\d{2}) \| ([^|]+?) \| (.*) \| (.*) \|$/.exec(text)
    if (cells === null) return
    const where = cells[3]!
    const file = /`([^`]+)`/.exec(where)?.[1] ?? null
    const title = /“(.+)”/.exec(where)?.[1]?.replaceAll('\\|', '|') ?? null
    rows.push({ id: cells[1]!, status: cells[2]!.trim(), file, title, note: cells[4]!.trim(), line: i + 1 })
  })
  return rows
}

const rows = coverageRows()
const expected = existsSync(catalogueUrl) ? catalogueIds(readFileSync(catalogueUrl, 'utf8')) : embeddedIds()

t.test('the id list is real: the catalogue (or the embedded ranges) has every prefix', async (t) => {
  t.ok(expected.length >= 200, `${expected.length} ids`)
  for (const p of 'JTPSHFD') t.ok(expected.some((id) => id.startsWith(p)), `prefix ${p}`)
  if (existsSync(catalogueUrl)) t.same(embeddedIds(), expected, 'SECURITY.md\'s embedded ranges match the catalogue')
})

t.test('every catalogue id has exactly one row in SECURITY.md, and no row names an unknown id', async (t) => {
  const seen = new Map<string, number>()
  for (const r of rows) seen.set(r.id, (seen.get(r.id) ?? 0) + 1)
  t.same(expected.filter((id) => !seen.has(id)), [], 'ids without a row')
  t.same([...seen].filter(([, n]) => n > 1).map(([id]) => id), [], 'ids with two rows')
  t.same(rows.map((r) => r.id).filter((id) => !expected.includes(id)), [], 'rows for ids the catalogue does not have')
  t.ok(rows.every((r) => ID.test(r.id)))
})

t.test('every row has a known status; deviation and n/a rows say why', async (t) => {
  for (const r of rows) {
    t.ok(STATUSES.has(r.status), `${r.id} (line ${r.line}): status "${r.status}"`)
    if (r.status !== 'covered') t.ok(r.note.length >= 20, `${r.id}: a ${r.status} row explains itself`)
  }
})

t.test('every named test is in its file: covered rows name one, and the file holds that title and the id', async (t) => {
  const sources = new Map<string, string>()
  const source = (file: string): string | null => {
    if (!sources.has(file)) {
      const url = new URL(file, root)
      // a TS string literal keeps \' for an apostrophe; the table shows the text as read
      sources.set(file, existsSync(url) ? readFileSync(url, 'utf8').replaceAll("\\'", "'") : '')
    }
    return sources.get(file) || null
  }
  for (const r of rows) {
    if (r.status === 'covered') t.ok(r.file !== null && r.title !== null, `${r.id}: a covered row names a file and a test`)
    if (r.file === null) continue
    t.match(r.file, /^test\/.+\.test\.ts$/, `${r.id}: a test file`)
    const src = source(r.file)
    t.ok(src !== null, `${r.id}: ${r.file} exists`)
    if (src === null || r.title === null) continue
    t.ok(src.includes(r.title), `${r.id}: "${r.title.slice(0, 60)}…" is in ${r.file}`)
    const idInFile = new RegExp(`${r.id}(?![0-9])`).test(src)
    // a few tests written before the catalogue ids existed carry no id; their titles must then be specific
    t.ok(idInFile || r.title.length >= 30, `${r.id}: the id is in ${r.file} (or the title is specific)`)
  }
})

t.test('the security test files name only catalogue ids that SECURITY.md lists', async (t) => {
  for (const file of ['tokens', 'token-endpoint', 'path-confusion', 'smuggling', 'headers', 'dependencies']) {
    const src = readFileSync(new URL(`test/security/${file}.test.ts`, root), 'utf8')
    const named = [...src.matchAll(/id: '([JTPSHFD]\d{2})[a-z]?'/g)].map((m) => m[1]!)
    t.same(named.filter((id) => !rows.some((r) => r.id === id)), [], `${file}.test.ts: row ids without a SECURITY.md row`)
  }
})
