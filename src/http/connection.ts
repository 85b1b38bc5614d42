// One connection, one conversation at a time. Node's HTTP server parses pipelined requests as
// they arrive and hands each to the app at once, queueing the responses; and its parser may fail
// on bytes that follow a complete request, answering 400 and destroying the socket while that
// request is still being handled. Both used to let a request reach an upstream although its
// client had been told the connection was over (issue 9 items 6 and 7). The rules here:
//
// - a request pipelined behind an unfinished response waits, before any stage runs, until its
//   response owns the socket (RFC 9112 §9.3.2: responses in request order); a connection that
//   closes first (e.g. after a refusal with `Connection: close`, RFC 9112 §9.6) ends it unexecuted;
// - a request is forwarded only while its response can still be written (`canStillAnswer`), and
//   once it has been forwarded complete, a parser error behind it closes the connection without
//   a 400: the client is never told "failed" about a request an upstream may have executed;
// - framing refusals carry `Connection: close`, so Node closes the connection after them and
//   nothing queued behind them ever gets its turn (SECURITY.md S08).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { GatewayError } from '../errors/gateway-error.js'

/** The header every framing refusal carries: the connection ends with it (RFC 9112 §9.6). */
export const CLOSE = Object.freeze({ connection: 'close' })

/**
 * Whether this response can still reach its client: it holds the connection (a pipelined response
 * waiting behind another does not yet) and that connection is still open for writing.
 */
export function canStillAnswer (res: ServerResponse): boolean {
  const socket = res.socket
  return socket !== null && !socket.destroyed && socket.writable && !res.writableEnded && !res.destroyed
}

/** Responses whose request was handed to an upstream: from then on, a parser error cannot say "failed". */
const forwarded = new WeakSet<ServerResponse>()

/** Called by the forward stage right before the upstream is contacted. */
export function markForwarded (res: ServerResponse): void { forwarded.add(res) }

/**
 * Whether an upstream may have executed this response's request: it was forwarded complete. A
 * request whose body was still arriving (a timeout or parser error mid-body) never reached an
 * upstream whole, so the client may still be told it failed (408, 400).
 */
export function mayHaveRun (res: ServerResponse): boolean {
  return forwarded.has(res) && res.req.complete
}

function gone (detail: string): GatewayError {
  return new GatewayError('bad_request', { headers: CLOSE, detail })
}

/**
 * Resolves once `res` owns the connection (at once, unless pipelined behind an unfinished
 * response); rejects when the connection closes first. Returns undefined on the common path, so
 * a request that is not pipelined costs no promise.
 */
export function awaitTurn (req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
  if (res.socket !== null) {
    if (canStillAnswer(res)) return undefined
    throw gone('connection closed before the request was handled')
  }
  const socket = req.socket
  return new Promise((resolve, reject) => {
    const onSocket = (): void => {
      socket.off('close', onClose)
      if (canStillAnswer(res)) resolve()
      else reject(gone('connection closed before the request was handled'))
    }
    const onClose = (): void => {
      res.off('socket', onSocket)
      reject(gone('connection closed before the pipelined request got its turn'))
    }
    res.once('socket', onSocket)
    socket.once('close', onClose)
  })
}
