// bench/run.ts's machine: what it runs on (printed first), the load average, and the tools it needs.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, hostname } from 'node:os'
import { out } from './config.js'
import { hasWrk } from './load.js'

export function machine (): string {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown CPU'
  const wrkV = spawnSync('wrk', ['-v'], { encoding: 'utf8' })
  const haV = spawnSync('haproxy', ['-v'], { encoding: 'utf8' })
  const redisV = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  return [
    `date: ${new Date().toISOString()}  host: ${hostname()}`,
    `nproc: ${cpus().length}  CPU: ${model}  node: ${process.version}`,
    `wrk: ${`${wrkV.stdout ?? ''}${wrkV.stderr ?? ''}`.split('\n')[0]?.trim() || 'not installed'}`,
    `load average before the run: ${loadavg()}`,
    `haproxy: ${haV.stdout?.split('\n')[0]?.trim() || 'not installed'}  redis: ${redisV.stdout?.trim().split(' ').slice(0, 3).join(' ') || 'not installed'}`
  ].join('\n')
}

export function loadavg (): string {
  try { return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') } catch { return 'n/a' }
}

export function ensureTools (): { haproxy: boolean, wrk: boolean } {
  const has = (cmd: string, arg: string): boolean => spawnSync(cmd, [arg], { stdio: 'ignore' }).error === undefined
  let haproxy = has('haproxy', '-v')
  let wrk = hasWrk()
  const isRoot = process.getuid?.() === 0
  if ((!haproxy || !wrk) && isRoot && process.env.BENCH_APT !== '0') {
    const missing = [!haproxy && 'haproxy', !wrk && 'wrk'].filter(Boolean) as string[]
    out(`installing ${missing.join(' ')} with apt-get (BENCH_APT=0 to skip) ...`)
    spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit' })
    haproxy = has('haproxy', '-v')
    wrk = hasWrk()
  }
  if (!haproxy) out('NOTE: haproxy is not installed (apt-get install -y haproxy): the haproxy-jwt target is skipped')
  if (!wrk) out('NOTE: wrk is not installed (apt-get install -y wrk): using autocannon (Node, heavier) as the load generator')
  return { haproxy, wrk }
}
