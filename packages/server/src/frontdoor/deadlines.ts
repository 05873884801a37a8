import type net from 'node:net';
import type { RequestFramer } from './http-framing.ts';

export interface RequestDeadlines {
  /** Time from the first byte of a request head to its end. */
  headTimeoutMs: number;
  /** Least bytes a visitor must send per `headTimeoutMs` while it sends a request body. */
  minBodyBytes: number;
}

export type Cutoff = 'head_deadline' | 'body_rate';

/**
 * Deadlines for the requests that follow the first on a visitor's connection, which the
 * idle timeout alone does not bound: one byte now and then keeps a connection "busy" for
 * ever. Every head must be complete within the head timeout once its first byte has
 * arrived, and a body must keep a minimum rate over two whole windows, unless the device
 * side was not reading (backpressure pauses the socket; that is not the visitor's fault).
 * `cut` is called at most once; the caller closes the connection.
 */
export function guardRequests(socket: net.Socket, framer: RequestFramer, limits: RequestDeadlines, cut: (why: Cutoff) => void): void {
  let done = false;
  const stop = (why?: Cutoff) => {
    if (done) return;
    done = true;
    clearTimeout(headTimer);
    clearInterval(rateTimer);
    if (why) cut(why);
  };
  let headTimer: NodeJS.Timeout | undefined;
  framer.on('head-started', () => {
    clearTimeout(headTimer);
    headTimer = setTimeout(() => stop('head_deadline'), limits.headTimeoutMs);
  });
  framer.on('head-finished', () => clearTimeout(headTimer));

  let lastRead = socket.bytesRead;
  let wasInBody = framer.inBody;
  let paused = socket.isPaused();
  socket.on('pause', () => (paused = true));
  const rateTimer = setInterval(() => {
    const read = socket.bytesRead - lastRead;
    lastRead = socket.bytesRead;
    const inBody = framer.inBody;
    if (wasInBody && inBody && !paused && read < limits.minBodyBytes) return stop('body_rate');
    wasInBody = inBody;
    paused = socket.isPaused();
  }, limits.headTimeoutMs);
  rateTimer.unref();
  socket.once('close', () => stop());
}
