// Long pure computations (the access diff of a 10,000-route map) written as generators that yield
// at checkpoints, so the same code runs to completion at once (the CLI) or in slices of the event
// loop (a hot reload, which must not stall the requests in flight).
import { setImmediate as nextTurn } from 'node:timers/promises'

/** A computation that yields at checkpoints and returns T. */
export type Steps<T> = Generator<void, T, void>

/** Checkpoint spacing in loops: yield once per this many iterations. */
export const STRIDE = 128

/** Runs it to completion, synchronously. */
export function drain<T> (steps: Steps<T>): T {
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
  }
}

/** Runs it in slices of about `sliceMs`, giving the event loop a turn between slices. */
export async function inSlices<T> (steps: Steps<T>, sliceMs = 4): Promise<T> {
  await nextTurn()
  let until = performance.now() + sliceMs
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
    if (performance.now() >= until) {
      await nextTurn()
      until = performance.now() + sliceMs
    }
  }
}
