import { Transform, type TransformCallback } from 'node:stream';

/** One HTTP/1.x request head, as parsed from the wire. */
export interface RequestHead {
  method: string;
  target: string;
  version: string;
  /** In arrival order, names as sent. */
  headers: [string, string][];
}

export class HttpFramingError extends Error {
  constructor(
    /** The status the front door answers with. */
    readonly status: 400 | 421 | 431,
    message: string,
  ) {
    super(message);
  }
}

const crlf2 = Buffer.from('\r\n\r\n');
const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * Control characters (and DEL) in a target or header value. A bare CR or LF is the worst:
 * an origin that splits lines on it reads a header we never saw, such as a second
 * Transfer-Encoding. Only HTAB is allowed in values (RFC 9110 section 5.5).
 */
const targetCtlRe = /[\x00-\x20\x7f]/;
const valueCtlRe = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Parses a request head (without its final blank line). Throws HttpFramingError(400) on anything malformed. */
export function parseRequestHead(head: string): RequestHead {
  const lines = head.split('\r\n');
  const [method = '', target = '', version = '', ...extra] = (lines[0] ?? '').split(' ');
  if (extra.length > 0 || !tokenRe.test(method) || target === '' || targetCtlRe.test(target) || !/^HTTP\/1\.[01]$/.test(version)) {
    throw new HttpFramingError(400, 'malformed request line');
  }
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    // Obsolete line folding and bare names are request-smuggling material: refuse them.
    if (!tokenRe.test(name)) throw new HttpFramingError(400, 'malformed header line');
    const value = line.slice(colon + 1);
    if (valueCtlRe.test(value)) throw new HttpFramingError(400, 'a control character in a header value');
    headers.push([name, value.replace(/^[ \t]+|[ \t]+$/g, '')]);
  }
  return { method, target, version, headers };
}

export function headerValues(head: RequestHead, name: string): string[] {
  // Asked several times for every request on a kept-alive connection: a loop, and no
  // lower-cased copy of a name whose length already tells it apart.
  const lower = name.toLowerCase();
  const values: string[] = [];
  for (const [n, v] of head.headers) if (sameName(n, lower)) values.push(v);
  return values;
}

/** Whether header name `n` is `lower` (a lower-case name), in any case. */
export function sameName(n: string, lower: string): boolean {
  return n.length === lower.length && (n === lower || n.toLowerCase() === lower);
}

/** The host name a request is for, lower-case, without port or trailing dot; null when absent or ambiguous. */
export function requestHost(head: RequestHead): string | null {
  const hosts = headerValues(head, 'host');
  if (hosts.length !== 1) return null;
  return normalizeHost(hosts[0] as string);
}

export function normalizeHost(host: string): string | null {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(0, end + 1) : null;
  }
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return /^[a-z0-9.-]+$/.test(h) ? h : null;
}

/** How the body that follows a request head is delimited (RFC 9112 section 6), or that the connection becomes a tunnel. */
export type RequestBody = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'tunnel' };

export function bodyOf(head: RequestHead): RequestBody {
  const te = headerValues(head, 'transfer-encoding');
  const cl = headerValues(head, 'content-length');
  if (te.length > 0 && cl.length > 0) throw new HttpFramingError(400, 'both Transfer-Encoding and Content-Length');
  if (te.length > 0) {
    const codings = te
      .join(',')
      .split(',')
      .map((c) => c.trim().toLowerCase());
    if (codings.at(-1) !== 'chunked') throw new HttpFramingError(400, 'request body without chunked framing');
    return { kind: 'chunked' };
  }
  if (cl.length > 0) {
    const values = new Set(
      cl
        .join(',')
        .split(',')
        .map((v) => v.trim()),
    );
    const [only] = values;
    if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) throw new HttpFramingError(400, 'bad Content-Length');
    return { kind: 'length', length: Number(only) };
  }
  if (head.method === 'CONNECT' || asksUpgrade(head)) return { kind: 'tunnel' };
  return { kind: 'none' };
}

function asksUpgrade(head: RequestHead): boolean {
  return headerValues(head, 'upgrade').length > 0 && /\bupgrade\b/i.test(headerValues(head, 'connection').join(','));
}

/** The head without its request to switch protocols: a plain request the origin answers as one. */
function withoutUpgrade(head: RequestHead): RequestHead {
  const headers: [string, string][] = [];
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (lower === 'upgrade') continue;
    if (lower !== 'connection') headers.push([name, value]);
    else {
      const rest = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && t.toLowerCase() !== 'upgrade');
      if (rest.length > 0) headers.push([name, rest.join(', ')]);
    }
  }
  return { ...head, headers };
}

/** The status code of a response that starts with `data`: null until its status line is complete, NaN if it is not HTTP/1.x. */
export function responseStatus(data: Buffer): number | null {
  const eol = data.indexOf('\r\n');
  if (eol < 0) return data.length > 1024 ? NaN : null;
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(data.subarray(0, eol).toString('latin1'));
  return m ? Number(m[1]) : NaN;
}

export interface FramerOptions {
  /** Largest request head (request line and headers) accepted, in bytes. */
  maxHeadBytes: number;
  /** Turns each head into the bytes sent on; may throw HttpFramingError. */
  rewrite(head: RequestHead, index: number, body: RequestBody): Buffer;
}

type FramerState = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'upgrade-wait' | 'tunnel' | 'discard';

/**
 * Cuts a client's HTTP/1.1 byte stream into requests so that every request head, not
 * only the first on a keep-alive connection, can be checked and rewritten; bodies
 * (Content-Length or chunked) pass through untouched. Pipelined requests work: responses
 * are not looked at, so they stay in order by themselves.
 *
 * An upgrade (Upgrade or CONNECT) turns the connection into a raw tunnel only once the
 * origin has accepted it (`firstResponse`): until then what follows is held back, and if
 * the origin declines, it is read as requests again, so a request hidden behind a refused
 * upgrade is still checked and rewritten. Only the first request on a connection may
 * upgrade, since only its response is known without reading all the others; WebSocket
 * clients open a connection for it. A later Upgrade header is removed.
 *
 * Emits 'head-started' when the first bytes of a head are held waiting for the rest, and
 * 'head-finished' when that head is complete, so a deadline can cover every head.
 */
export class RequestFramer extends Transform {
  private state: FramerState = 'head';
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private index = 0;
  /** Index of the head whose first bytes are held, while it is incomplete. */
  private startedHead = -1;
  /** 'upgrade' or 'connect' when the first request asked to switch protocols and its answer is awaited. */
  private upgradeAsked: 'upgrade' | 'connect' | null = null;
  /** Set by lastRequest(): once the current request is through, what follows is dropped. */
  private last = false;
  /** Bytes dropped after the last request. */
  private droppedBytes = 0;

  constructor(private readonly options: FramerOptions) {
    super();
  }

  /** True while the framer holds part of a request head, e.g. for an idle-timeout decision. */
  get midHead(): boolean {
    return this.state === 'head' && this.pending.length > 0;
  }

  /** Bytes the visitor sent after its last request (lastRequest), dropped. */
  get dropped(): number {
    return this.droppedBytes;
  }

  /** True while a request body (or its chunk framing) is being passed on. */
  get inBody(): boolean {
    return this.state !== 'head' && this.state !== 'upgrade-wait' && this.state !== 'tunnel' && this.state !== 'discard';
  }

  /**
   * The request whose head is being rewritten is the connection's last (its visitor sent
   * `Connection: close`, RFC 9112 section 9.6): once it is through, nothing more is sent on.
   * Only for a request without a body; call it from `rewrite`.
   */
  lastRequest(): void {
    this.last = true;
  }

  /**
   * The status of the origin's first response. Answers the first request; if that asked
   * to upgrade, a 101 (or a 2xx to CONNECT) opens the tunnel and anything else keeps
   * reading requests.
   */
  firstResponse(status: number): void {
    if (this.state !== 'upgrade-wait') return;
    const accepted = this.upgradeAsked === 'connect' ? status >= 200 && status < 300 : status === 101;
    this.upgradeAsked = null;
    this.state = accepted ? 'tunnel' : 'head';
    const held = this.pending;
    this.pending = Buffer.alloc(0);
    try {
      this.consume(held);
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.consume(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private consume(input: Buffer): void {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, input]) : input;
    this.pending = Buffer.alloc(0);
    while (data.length > 0) {
      switch (this.state) {
        case 'tunnel':
          this.push(data);
          return;
        case 'discard':
          this.droppedBytes += data.length;
          return;
        case 'upgrade-wait':
          // A WebSocket client waits for the 101 before it sends; hold a little, refuse more.
          if (data.length > this.options.maxHeadBytes) throw new HttpFramingError(400, 'data sent before the upgrade was answered');
          this.pending = Buffer.from(data);
          return;
        case 'body':
        case 'chunk-data': {
          const n = Math.min(this.remaining, data.length);
          this.push(data.subarray(0, n));
          data = data.subarray(n);
          this.remaining -= n;
          if (this.remaining === 0) this.state = this.state === 'body' ? 'head' : 'chunk-end';
          break;
        }
        case 'chunk-end': {
          // The CRLF after a chunk's data: anything else would be read differently by different origins.
          if (data.length < 2) {
            this.pending = Buffer.from(data);
            return;
          }
          if (data[0] !== 0x0d || data[1] !== 0x0a) throw new HttpFramingError(400, 'chunk data longer than its size');
          this.push(data.subarray(0, 2));
          data = data.subarray(2);
          this.state = 'chunk-size';
          break;
        }
        case 'head': {
          // Tolerate the stray CRLF some clients send between requests (RFC 9112 section 2.2).
          while (data.length >= 2 && data[0] === 0x0d && data[1] === 0x0a) data = data.subarray(2);
          const end = data.indexOf(crlf2);
          if (end < 0) {
            if (data.length > this.options.maxHeadBytes) throw new HttpFramingError(431, 'request head too large');
            this.pending = Buffer.from(data);
            if (data.length > 0 && this.startedHead !== this.index) {
              this.startedHead = this.index;
              this.emit('head-started');
            }
            return;
          }
          if (end > this.options.maxHeadBytes) throw new HttpFramingError(431, 'request head too large');
          let head = parseRequestHead(data.subarray(0, end).toString('latin1'));
          let body = bodyOf(head);
          if (body.kind === 'tunnel' && this.index > 0) {
            if (head.method === 'CONNECT') throw new HttpFramingError(400, 'CONNECT after the first request on a connection');
            head = withoutUpgrade(head);
            body = { kind: 'none' };
          }
          if (this.startedHead === this.index) {
            this.startedHead = -1;
            this.emit('head-finished');
          }
          this.push(this.options.rewrite(head, this.index++, body));
          data = data.subarray(end + 4);
          if (this.last && (body.kind === 'none' || (body.kind === 'length' && body.length === 0))) {
            this.state = 'discard';
            this.droppedBytes += data.length;
            return;
          }
          if (body.kind === 'length' && body.length > 0) {
            this.state = 'body';
            this.remaining = body.length;
          } else if (body.kind === 'chunked') this.state = 'chunk-size';
          else if (body.kind === 'tunnel') {
            this.state = 'upgrade-wait';
            this.upgradeAsked = head.method === 'CONNECT' ? 'connect' : 'upgrade';
          }
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          const eol = data.indexOf('\r\n');
          if (eol < 0) {
            if (data.length > 4096) throw new HttpFramingError(400, 'chunk header too long');
            this.pending = Buffer.from(data);
            return;
          }
          const line = data.subarray(0, eol).toString('latin1');
          if (/[\x00\r\n]/.test(line)) throw new HttpFramingError(400, 'a control character in a chunk line');
          this.push(data.subarray(0, eol + 2));
          data = data.subarray(eol + 2);
          if (this.state === 'trailer') {
            if (line === '') this.state = 'head';
            break;
          }
          const n = chunkSize(line);
          if (n === null) throw new HttpFramingError(400, 'bad chunk size');
          if (n === 0) this.state = 'trailer';
          else {
            this.state = 'chunk-data';
            this.remaining = n;
          }
          break;
        }
      }
    }
  }
}

/** The size a chunk line gives (extensions after `;` ignored); null when it is not one. */
export function chunkSize(line: string): number | null {
  const size = line.split(';')[0]?.trim() ?? '';
  return /^[0-9a-fA-F]{1,12}$/.test(size) ? parseInt(size, 16) : null;
}

/** Serializes a head back to the wire, with its blank line. */
export function serializeHead(head: RequestHead): Buffer {
  // Written piece by piece into one Buffer: a string built up by concatenation is a chain
  // of small strings flattened again for the copy, once per request of every visitor.
  let bytes = head.method.length + head.target.length + head.version.length + 6;
  for (const [n, v] of head.headers) bytes += n.length + v.length + 4;
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  const put = (text: string) => {
    at += out.write(text, at, 'latin1');
  };
  put(head.method);
  put(' ');
  put(head.target);
  put(' ');
  put(head.version);
  put('\r\n');
  for (const [n, v] of head.headers) {
    put(n);
    put(': ');
    put(v);
    put('\r\n');
  }
  put('\r\n');
  return out;
}
