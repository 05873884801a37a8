import { parseClientHello } from './client-hello.ts';
import { bodyOf, parseRequestHead, requestHost, type RequestHead } from './http-framing.ts';
import { asksClose, poolable } from './reused-channel.ts';

/** What the first bytes of a visitor's connection say: where it goes, or why it is refused. */
export type First =
  | { kind: 'incomplete' }
  | { kind: 'ready'; host: string | null; poolable: boolean }
  | { kind: 'error'; status: number; code: string; message: string };

/** The first request head on the HTTP door: its host, and whether the connection may go on a kept channel. */
export function firstHead(data: Buffer, max: number): First {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) {
    return data.length > max
      ? { kind: 'error', status: 431, code: 'head_too_large', message: 'The request head is too large.' }
      : { kind: 'incomplete' };
  }
  if (end > max) return { kind: 'error', status: 431, code: 'head_too_large', message: 'The request head is too large.' };
  let head: RequestHead;
  try {
    head = parseRequestHead(
      data
        .subarray(0, end)
        .toString('latin1')
        .replace(/^(\r\n)+/, ''),
    );
  } catch {
    return { kind: 'error', status: 400, code: 'bad_request', message: 'That is not an HTTP/1.1 request.' };
  }
  let pool = false;
  try {
    // Only a visitor that will close after one answer: a kept-alive connection's responses
    // would all have to be read for where they end, which costs its hot path more than a
    // channel of its own once.
    pool = poolable(head, bodyOf(head)) && asksClose(head);
  } catch {
    // A head the framer refuses: it is answered as ever, on a channel of its own.
  }
  return { kind: 'ready', host: requestHost(head), poolable: pool };
}

/** The ClientHello on the HTTPS door: its SNI name. */
export function firstHello(data: Buffer, max: number): First {
  const hello = parseClientHello(data);
  if (hello.kind === 'incomplete') {
    return data.length > max ? { kind: 'error', status: 400, code: 'hello_too_large', message: '' } : { kind: 'incomplete' };
  }
  if (hello.kind === 'not_tls') return { kind: 'error', status: 400, code: 'not_tls', message: '' };
  if (hello.serverName === null) return { kind: 'error', status: 400, code: 'unknown_name', message: '' };
  return { kind: 'ready', host: hello.serverName, poolable: false };
}
