// The scheduling state of each thread of a process, on Linux: /proc/PID/task/TID/stat, its fields
// numbered as in proc(5). The bcrypt workers set their own (BCRYPT_NICE, BCRYPT_SCHED_IDLE).
import { readdirSync, readFileSync } from 'node:fs'

/** proc(5) field 19: the nice value. */
export const NICE = 19
/** proc(5) field 41: the scheduling policy. */
export const POLICY = 41
export const SCHED_OTHER = 0
export const SCHED_IDLE = 5

/** Field `field` of every thread of process `pid` ('self': this one), by thread id. */
export function threadStat (pid: number | 'self', field: number): Map<number, number> {
  const out = new Map<number, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
    // the fields after the command name `(…)`, which may hold spaces, start at field 3
    out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[field - 3]))
  }
  return out
}

/** How many threads have `value` in `field`. */
export const countOf = (stats: Map<number, number>, value: number): number => [...stats.values()].filter((v) => v === value).length
