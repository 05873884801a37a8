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

/** Parses a request head (without its final blank line). Throws HttpFramingError(400) on anything malformed. */
export function parseRequestHead(head: string): RequestHead {
  const lines = head.split('\r\n');
  const [method = '', target = '', version = '', ...extra] = (lines[0] ?? '').split(' ');
  if (extra.length > 0 || !tokenRe.test(method) || target === '' || !/^HTTP\/1\.[01]$/.test(version)) {
    throw new HttpFramingError(400, 'malformed request line');
  }
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    // Obsolete line folding and bare names are request-smuggling material: refuse them.
    if (!tokenRe.test(name)) throw new HttpFramingError(400, 'malformed header line');
    headers.push([name, line.slice(colon + 1).trim()]);
  }
  return { method, target, version, headers };
}

export function headerValues(head: RequestHead, name: string): string[] {
  const lower = name.toLowerCase();
  return head.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
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

/** How the body that follows a head is delimited (RFC 9112 section 6). */
function bodyOf(head: RequestHead): { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'tunnel' } {
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
  const upgrade = headerValues(head, 'upgrade').length > 0 && /\bupgrade\b/i.test(headerValues(head, 'connection').join(','));
  if (head.method === 'CONNECT' || upgrade) return { kind: 'tunnel' };
  return { kind: 'none' };
}

export interface FramerOptions {
  /** Largest request head (request line and headers) accepted, in bytes. */
  maxHeadBytes: number;
  /** Turns each head into the bytes sent on; may throw HttpFramingError. */
  rewrite(head: RequestHead, index: number): Buffer;
}

/**
 * Cuts a client's HTTP/1.1 byte stream into requests so that every request head, not
 * only the first on a keep-alive connection, can be checked and rewritten; bodies
 * (Content-Length or chunked) and upgraded connections pass through untouched. Pipelined
 * requests work: responses are not looked at, so they stay in order by themselves.
 */
export class RequestFramer extends Transform {
  private state: 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'trailer' | 'tunnel' = 'head';
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private index = 0;

  constructor(private readonly options: FramerOptions) {
    super();
  }

  /** True while the framer holds part of a request head, e.g. for an idle-timeout decision. */
  get midHead(): boolean {
    return this.state === 'head' && this.pending.length > 0;
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
        case 'body':
        case 'chunk-data': {
          const n = Math.min(this.remaining, data.length);
          this.push(data.subarray(0, n));
          data = data.subarray(n);
          this.remaining -= n;
          if (this.remaining === 0) this.state = this.state === 'body' ? 'head' : 'chunk-size';
          break;
        }
        case 'head': {
          // Tolerate the stray CRLF some clients send between requests (RFC 9112 section 2.2).
          while (data.length >= 2 && data[0] === 0x0d && data[1] === 0x0a) data = data.subarray(2);
          const end = data.indexOf(crlf2);
          if (end < 0) {
            if (data.length > this.options.maxHeadBytes) throw new HttpFramingError(431, 'request head too large');
            this.pending = Buffer.from(data);
            return;
          }
          if (end > this.options.maxHeadBytes) throw new HttpFramingError(431, 'request head too large');
          const head = parseRequestHead(data.subarray(0, end).toString('latin1'));
          const body = bodyOf(head);
          this.push(this.options.rewrite(head, this.index++));
          data = data.subarray(end + 4);
          if (body.kind === 'length' && body.length > 0) {
            this.state = 'body';
            this.remaining = body.length;
          } else if (body.kind === 'chunked') this.state = 'chunk-size';
          else if (body.kind === 'tunnel') this.state = 'tunnel';
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
          this.push(data.subarray(0, eol + 2));
          data = data.subarray(eol + 2);
          if (this.state === 'trailer') {
            if (line === '') this.state = 'head';
            break;
          }
          const size = line.split(';')[0]?.trim() ?? '';
          if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new HttpFramingError(400, 'bad chunk size');
          const n = parseInt(size, 16);
          if (n === 0) this.state = 'trailer';
          else {
            this.state = 'chunk-data';
            this.remaining = n + 2; // the data and its CRLF
          }
          break;
        }
      }
    }
  }
}

/** Serializes a head back to the wire, with its blank line. */
export function serializeHead(head: RequestHead): Buffer {
  let out = `${head.method} ${head.target} ${head.version}\r\n`;
  for (const [n, v] of head.headers) out += `${n}: ${v}\r\n`;
  return Buffer.from(`${out}\r\n`, 'latin1');
}
