// `portcullis keys rotate | list`, on REDIS_URL. Only kid, alg and dates are ever printed:
// never key material, private or public.
import { Command, Option } from 'commander'
import { KEY_REFRESH_INTERVAL_MS, listKeyInfo, rotateKey, type KeyInfo } from '../oauth/keys.js'
import type { SigningAlg } from '../store/types.js'
import { action, cliConventions, isoTime, output, table, withStore } from './common.js'

interface JsonOpt { json?: boolean }

/** The JSON shape of a key. */
function keyJson (k: KeyInfo): object {
  return { kid: k.kid, alg: k.alg, created_at: k.createdAt, retire_at: k.retireAt, current: k.current }
}

function status (k: KeyInfo): string {
  if (k.current) return 'signing'
  return k.retireAt === null ? 'published' : `retires ${isoTime(k.retireAt)}`
}

export function keysCommand (): Command {
  const keys = new Command('keys').description('manage the signing keys in the store at REDIS_URL')

  keys.command('rotate')
    .description('add a signing key, published at once; older keys stay published until their tokens expire')
    .addOption(new Option('--alg <alg>', 'algorithm of the new key (default: SIGNING_ALG)').choices(['ES256', 'EdDSA', 'RS256']))
    .option('--json', 'print JSON')
    .action(action(async (opts: JsonOpt & { alg?: SigningAlg }) => {
      await withStore(async (store, config) => {
        const alg = opts.alg ?? config.SIGNING_ALG
        // a retired key must verify every token it signed: the longest lifetime plus the leeway
        const record = await rotateKey(store, alg, { maxTokenLifetime: config.ACCESS_TOKEN_TTL + config.CLOCK_SKEW })
        const all = await listKeyInfo(store)
        const added = all.find((k) => k.kid === record.kid) ??
          { kid: record.kid, alg: record.alg, createdAt: record.createdAt, retireAt: record.retireAt, current: true }
        output(opts.json, keyJson(added), () => [
          `new signing key ${added.kid} (${added.alg}); every instance signs with it within ${KEY_REFRESH_INTERVAL_MS / 1000} s`,
          ...all.filter((k) => k.kid !== added.kid).map((k) => `older key ${k.kid} (${k.alg}): ${status(k)}`)
        ])
      })
    }))

  keys.command('list')
    .description('list the published keys (kid, algorithm, dates; never key material)')
    .option('--json', 'print JSON')
    .action(action(async (opts: JsonOpt) => {
      await withStore(async (store) => {
        const all = await listKeyInfo(store)
        output(opts.json, all.map(keyJson), () => all.length === 0
          ? 'no keys yet (the first instance to start creates one)'
          : table(['KID', 'ALG', 'CREATED', 'STATUS'], all.map((k) => [k.kid, k.alg, isoTime(k.createdAt), status(k)])))
      })
    }))

  return cliConventions(keys)
}
