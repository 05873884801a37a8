import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventStreams, StreamOwner } from './event-streams.ts';

const keepAliveMs = 20_000;

/**
 * Holds a request open as an event stream: `first` now, whatever `subscribe` sends later,
 * a ping to keep it alive. Refused (too_many_streams) before anything is sent when the
 * owner or the server has too many open.
 */
export function openEventStream(
  streams: EventStreams,
  req: FastifyRequest,
  reply: FastifyReply,
  owner: StreamOwner,
  first: [event: string, data: object],
  subscribe: (send: (event: string, data: object) => void) => () => void,
): void {
  const res = reply.raw;
  const release = streams.admit(owner, () => res.end());
  reply.hijack();
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  res.socket?.setNoDelay(true);
  const send = (event: string, data: object) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  send(...first);
  const unsubscribe = subscribe(send);
  const ping = setInterval(() => res.write(': ping\n\n'), keepAliveMs);
  let ended = false;
  const done = () => {
    if (ended) return;
    ended = true;
    clearInterval(ping);
    unsubscribe();
    release();
  };
  req.raw.on('close', done);
  res.on('close', done);
  res.on('error', done);
}
