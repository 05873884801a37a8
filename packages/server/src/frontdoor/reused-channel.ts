import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { whenEnded } from '../gateway/tunnel-gateway.ts';
import { headerValues, type RequestBody, type RequestFramer, type RequestHead } from './http-framing.ts';
import { ResponseFramer, type ExpectedResponse } from './response-framing.ts';

/** Replayed requests are bodiless heads; more than this waiting for a first answer is not worth keeping for a retry. */
const maxReplayBytes = 64 * 1024;
const lingerMs = 5_000;

/**
 * A request the front door may send on a reused channel, and so send again on a fresh one:
 * HTTP/1.1, no body, not a switch of protocols, a method that changes nothing (RFC 9110
 * section 9.2.2), since an origin that closed meanwhile might have seen it, and no
 * authentication that binds the connection rather than the request (NTLM, Negotiate):
 * after one of those the channel is the visitor's alone.
 */
export function poolable(head: RequestHead, body: RequestBody): boolean {
  return (
    head.version === 'HTTP/1.1' &&
    (body.kind === 'none' || (body.kind === 'length' && body.length === 0)) &&
    (head.method === 'GET' || head.method === 'HEAD' || head.method === 'OPTIONS') &&
    headerValues(head, 'upgrade').length === 0 &&
    !headerValues(head, 'authorization').some((v) => /^\s*(ntlm|negotiate)\b/i.test(v))
  );
}

export function asksClose(head: RequestHead): boolean {
  return /(^|[\s,])close($|[\s,])/i.test(headerValues(head, 'connection').join(','));
}

/** The head with the visitor's `Connection: close` dropped: the origin keeps the connection for the next visitor. */
function keepAliveHead(head: RequestHead): RequestHead {
  const headers = head.headers.filter(([n]) => n.toLowerCase() !== 'connection' && n.toLowerCase() !== 'keep-alive');
  return { ...head, headers };
}

export interface ReusedChannelOptions {
  socket: net.Socket;
  framer: RequestFramer;
  /** The visitor's bytes read before routing (the first request). */
  first: Buffer;
  channel: Duplex;
  /** The channel came from the pool: if the origin closed it meanwhile, the request goes again on a fresh one. */
  reused: boolean;
  openFresh(): Promise<Duplex>;
  /** The channel is between requests and may carry another visitor's: keep it. */
  giveBack(channel: Duplex): void;
  /** A request went again on a fresh channel (counted), or could not (the visitor is answered with an error). */
  retried(ok: boolean): void;
}

/**
 * Carries a visitor's connection whose first request is poolable over a channel that may
 * be handed on afterwards. Requests pass through the framer as always (checked, rewritten
 * with X-Forwarded-*), and responses through a ResponseFramer that knows where each ends.
 * The channel goes back to the pool when the visitor is done (it asked to close, or it
 * closed) with every response complete and the origin not closing; otherwise it ends as a
 * plain joined channel would: half-close, close and errors as in front-doors.ts's join.
 *
 * A visitor's `Connection: close` is hop-by-hop (RFC 9110 section 7.6.1): the origin is
 * asked to keep the connection, the visitor's response says `Connection: close`, and the
 * front door closes the visitor's connection once that response is complete.
 */
export class ReusedChannel {
  private channel: Duplex | null;
  private readonly expected: ExpectedResponse[] = [];
  private readonly responses: ResponseFramer;
  /** False once a request that is not poolable went on: from then on, a plain joined connection. */
  private tracking = true;
  /** The visitor's requests so far, kept while a reused channel may yet turn out closed before answering. */
  private replay: Buffer[] | null;
  private replayBytes = 0;
  private answered = false;
  private retriedOnce = false;
  private visitorClosing = false;
  private done = false;
  /** Waiting for 'drain' on the channel (the framer paused) or on the visitor's socket (the channel paused). */
  private drainingChannel: Duplex | null = null;
  private drainingSocket = false;

  constructor(private readonly o: ReusedChannelOptions) {
    this.channel = o.channel;
    this.replay = o.reused ? [] : null;
    this.responses = new ResponseFramer(
      () => this.expected[0],
      () => this.completed(),
    );
  }

  /** The framer's head rewrite: records what each request expects back; called before the head is sent on. */
  request(head: RequestHead, body: RequestBody): RequestHead {
    if (!this.tracking) return head;
    if (!poolable(head, body)) {
      this.flush();
      this.replay = null;
      return head;
    }
    const close = asksClose(head);
    this.expected.push({ method: head.method, close });
    if (!close) return head;
    this.visitorClosing = true;
    this.o.framer.lastRequest();
    return keepAliveHead(head);
  }

  start(): void {
    const { socket, framer } = this.o;
    framer.on('data', this.toOrigin);
    whenEnded(framer, () => this.visitorEnded());
    socket.once('close', () => this.visitorClosed());
    this.attach(this.o.channel);
    framer.write(this.o.first);
    socket.resume();
  }

  private readonly toOrigin = (chunk: Buffer): void => {
    if (this.replay) {
      this.replay.push(chunk);
      this.replayBytes += chunk.length;
      if (this.replayBytes > maxReplayBytes) this.replay = null;
    }
    const channel = this.channel;
    if (!channel) return; // a fresh channel is on its way; it gets the replay
    if (!channel.write(chunk) && !this.drainingChannel) {
      this.o.framer.pause();
      this.drainingChannel = channel;
      channel.once('drain', this.channelDrained);
    }
  };

  private readonly channelDrained = (): void => {
    this.drainingChannel = null;
    this.o.framer.resume();
  };

  private readonly socketDrained = (): void => {
    this.drainingSocket = false;
    this.channel?.resume();
  };

  private readonly fromOrigin = (chunk: Buffer): void => {
    this.answered = true;
    this.replay = null;
    const { socket } = this.o;
    const out = this.tracking ? this.responses.feed(chunk) : [chunk];
    // A head and its body (and the FIN after them) leave in one write, not one each.
    const corked = out.length > 1 && !socket.destroyed;
    if (corked) socket.cork();
    let ok = true;
    for (const b of out) if (!socket.destroyed) ok = socket.write(b);
    if (!ok && this.channel && !this.drainingSocket) {
      this.channel.pause();
      this.drainingSocket = true;
      socket.once('drain', this.socketDrained);
    }
    this.afterResponseBytes();
    if (corked && socket.writableCorked > 0) socket.uncork();
  };

  private afterResponseBytes(): void {
    if (this.done || !this.tracking) return;
    if (!this.responses.delimited) {
      // An answer that runs until the origin closes, or that cannot be read: from here on, a
      // plain joined connection. A visitor that asked to close would have had the origin
      // close after it; its EOF is the nearest thing to that now.
      this.flush();
      if (this.visitorClosing) this.sendEof();
      return;
    }
    if (this.visitorClosing && this.expected.length === 0) this.finish(true);
  }

  private readonly originEnded = (): void => {
    if (this.retry()) return;
    // As a pipe would: the visitor's connection ends after what came before.
    this.flush();
    if (!this.o.socket.writableEnded) this.o.socket.end();
  };

  private readonly originClosed = (): void => {
    if (this.retry()) return;
    this.done = true;
    this.flush();
    const { socket } = this.o;
    if (socket.destroyed) return;
    if (!socket.writableEnded) socket.end();
    setTimeout(() => socket.destroy(), lingerMs).unref();
  };

  private readonly originError = (): void => {
    if (this.retry()) return;
    this.done = true;
    this.o.socket.destroy();
  };

  /** What the response framer held back goes to the visitor, and from here on everything passes straight through. */
  private flush(): void {
    if (!this.tracking) return;
    this.tracking = false;
    const { socket } = this.o;
    for (const b of this.responses.flush()) if (!socket.destroyed && !socket.writableEnded) socket.write(b);
  }

  private attach(channel: Duplex): void {
    channel.on('data', this.fromOrigin);
    channel.on('end', this.originEnded);
    channel.on('close', this.originClosed);
    channel.on('error', this.originError);
    channel.resume();
  }

  private detach(channel: Duplex): void {
    channel.off('data', this.fromOrigin);
    channel.off('end', this.originEnded);
    channel.off('close', this.originClosed);
    channel.off('error', this.originError);
    if (this.drainingChannel === channel) {
      channel.off('drain', this.channelDrained);
      this.drainingChannel = null;
      this.o.framer.resume();
    }
    if (this.drainingSocket) {
      this.o.socket.off('drain', this.socketDrained);
      this.drainingSocket = false;
    }
  }

  private completed(): void {
    this.expected.shift();
  }

  /** `channel` can carry another visitor: every request answered in full, nothing half sent, the origin not closing. */
  private reusable(channel: Duplex | null): boolean {
    const { framer } = this.o;
    return (
      this.tracking &&
      this.responses.reusable &&
      this.expected.length === 0 &&
      !framer.midHead &&
      !framer.inBody &&
      channel !== null &&
      channel.readable &&
      channel.writable
    );
  }

  /** The visitor is done with the connection: the channel goes back or is closed, and the visitor's connection ends. */
  private finish(endVisitor: boolean): void {
    this.done = true;
    const channel = this.channel;
    this.channel = null;
    this.o.framer.off('data', this.toOrigin);
    if (channel) {
      this.detach(channel);
      if (this.reusable(channel)) this.o.giveBack(channel);
      else channel.destroy();
    }
    const { socket } = this.o;
    if (!endVisitor || socket.destroyed) return;
    if (this.closesAtOnce()) return void socket.destroy();
    if (!socket.writableEnded) socket.end();
    setTimeout(() => socket.destroy(), lingerMs).unref();
  }

  /**
   * Whether the visitor's connection can simply be closed now, as nginx closes after a
   * response to a request it read whole: the whole response is in the kernel (close
   * sends it, then the FIN) and the visitor sent nothing after its request (unread data
   * would turn the close into a reset, which can cost the visitor the response). One
   * close instead of a shutdown, a wait for the visitor's FIN, its read and then the close.
   */
  private closesAtOnce(): boolean {
    const { socket, framer } = this.o;
    if (socket.writableEnded || framer.dropped > 0 || socket.readableLength > 0) return false;
    while (socket.writableCorked > 0) socket.uncork();
    // Zero once every write has completed: a write still waiting for room in the kernel counts.
    return socket.writableLength === 0;
  }

  /** The visitor half-closed: a channel between requests goes back; otherwise its EOF goes on, as ever. */
  private visitorEnded(): void {
    if (this.done) return;
    if (this.reusable(this.channel)) return this.finish(true);
    this.flush();
    this.sendEof();
  }

  /** The visitor's FIN, after everything before it: an EOF on the channel, which stays readable. */
  private sendEof(): void {
    const channel = this.channel;
    if (!channel) return;
    const eof = (channel as Duplex & { eof?: () => void }).eof;
    channel.write(Buffer.alloc(0), () => (eof ? eof.call(channel) : channel.end()));
  }

  private visitorClosed(): void {
    if (this.done) return;
    this.finish(false);
  }

  /**
   * A reused channel that closes before any byte of an answer was closed by the origin
   * while idle (its keep-alive ran out): the requests sent, all bodiless, go once more on
   * a fresh channel. Never after an answer began: that one would be answered twice.
   */
  private retry(): boolean {
    const stale = this.channel;
    if (!this.o.reused || this.retriedOnce || this.answered || !this.replay || !stale || this.done) return false;
    this.retriedOnce = true;
    this.detach(stale);
    stale.destroy();
    this.channel = null;
    this.o.framer.pause();
    this.o.openFresh().then(
      (fresh) => {
        const replay = this.replay;
        this.replay = null;
        if (this.done || this.o.socket.destroyed || !replay) {
          fresh.destroy();
          return void this.o.socket.destroy();
        }
        this.o.retried(true);
        this.channel = fresh;
        this.attach(fresh);
        for (const b of replay) fresh.write(b);
        this.o.framer.resume();
      },
      () => {
        this.done = true;
        this.o.retried(false);
      },
    );
    return true;
  }
}
