// The compare-and-set script behind updateUser/updateClient (src/store/redis/account-scripts.ts,
// records.ts) against a real redis-server, with the other writer landing exactly between the
// updater's read and its write: the write that would lose that change is refused and retried.
import t from 'tap'
import { Redis } from 'ioredis'
import { updateRecord as updateScript } from '../../src/store/redis/account-scripts.js'
import { recordEvents, updateRecord } from '../../src/store/redis/records.js'
import type { ClientRecord } from '../../src/store/types.js'
import { startRedis } from '../helpers/redis-server.js'

const redis = await startRedis()
const raw = new Redis(redis.url) as Redis & { updateRecord: (...args: string[]) => Promise<number> }
raw.defineCommand('updateRecord', updateScript)
t.teardown(async () => { await raw.quit(); await redis.stop() })

const client: ClientRecord = { id: 'web', secretHash: '$2b$04$old', grants: ['password'], scopes: [], disabled: false, createdAt: 1 }

t.test('a disable landing between the read and the write of a secret rotation is kept (issue 9 item 14)', async (t) => {
  await raw.set('c:web', JSON.stringify(client))
  let reads = 0
  const io = {
    read: async () => {
      const json = await raw.get('c:web')
      // The first read returns the enabled record; then another operator disables the client.
      if (++reads === 1) await raw.set('c:web', JSON.stringify({ ...client, disabled: true }))
      return json
    },
    write: async (expected: string, json: string, disabled: string, cutoff: string, e1: string, e2: string) =>
      await raw.updateRecord('c:web', 'c-disabled:web', 'c-cutoff:web', expected, json, disabled, cutoff, 'feed', e1, e2)
  }
  const written = await updateRecord<ClientRecord>(io, recordEvents('client', 'web'), (c) => c.id, (c) => ({ ...c, secretHash: '$2b$04$new' }), {})
  t.equal(reads, 2, 'the first compare-and-set wrote nothing; the update read again')
  t.same(written, { ...client, disabled: true, secretHash: '$2b$04$new' })
  t.same(JSON.parse(await raw.get('c:web') ?? 'null'), { ...client, disabled: true, secretHash: '$2b$04$new' }, 'disabled AND rotated')
  t.equal(await raw.get('c-disabled:web'), '1', 'the disabled flag agrees with the record')
})

t.test('the script writes nothing when the record is gone, and moves the cut-off only forward', async (t) => {
  t.equal(await raw.updateRecord('c:none', 'c-disabled:none', 'c-cutoff:none', '{}', '{}', '1', '10', 'feed', 'e', 'e'), 0)
  t.same(await raw.exists('c:none', 'c-disabled:none', 'c-cutoff:none'), 0, 'nothing created')
  const json = JSON.stringify(client)
  t.equal(await raw.updateRecord('c:x', 'c-d:x', 'c-c:x', 'null', json, '0', '', 'feed', 'e', 'e'), 0, 'absent record: no write')
  await raw.set('c:x', json)
  t.equal(await raw.updateRecord('c:x', 'c-d:x', 'c-c:x', json, json, '1', '200', 'feed', 'e', 'e'), 1)
  t.equal(await raw.updateRecord('c:x', 'c-d:x', 'c-c:x', json, json, '0', '100', 'feed', 'e', 'e'), 1)
  t.equal(await raw.get('c-c:x'), '200', 'the earlier cut-off did not replace the later one')
  t.equal(await raw.get('c-d:x'), null, 'enabled: no flag')
})
