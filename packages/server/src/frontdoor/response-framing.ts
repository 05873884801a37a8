import { chunkSize } from './http-framing.ts';

const crlf2 = Buffer.from('\r\n\r\n');
const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Larger response heads are passed on unread: the connection is then simply not reused. */
const maxResponseHeadBytes = 64 * 1024;

/** What the response that comes next answers: its request's method, and whether the visitor asked to close after it. */
export interface ExpectedResponse {
  method: string;
  /** The visitor sent `Connection: close`: the response it gets says so, whatever the origin said. */
  close: boolean;
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'through';

/**
 * Reads an origin's responses on a connection the front door may reuse, to know where
 * each one ends (RFC 9112 section 6.3): interim 1xx heads, responses without a body (to
 * HEAD, 204, 304), Content-Length, chunked with trailers. Bytes pass on as they arrive;
 * only a head may be rewritten (to say `Connection: close` to a visitor that asked for it).
 *
 * Anything it cannot delimit (a body that runs until the origin closes, a 101, a head it
 * cannot read, bytes nobody asked for) turns it into a plain pass-through for the rest of
 * the connection: `reusable` is then false for good, and so it is after an origin that
 * said it will close (`Connection: close`, or HTTP/1.0 without keep-alive).
 */
export class ResponseFramer {
  private state: State = 'head';
  private pending: Buffer | null = null;
  private remaining = 0;
  private closing = false;

  constructor(
    /** The request the next response answers; undefined when none is awaited. */
    private readonly expected: () => ExpectedResponse | undefined,
    /** A response is complete: called once per request, in order. */
    private readonly complete: () => void,
  ) {}

  /** Between responses, nothing held, and the origin has not said it will close. */
  get reusable(): boolean {
    return this.state === 'head' && this.pending === null && !this.closing;
  }

  /** False once the connection could not be delimited and everything passes through unread. */
  get delimited(): boolean {
    return this.state !== 'through';
  }

  /** Takes bytes from the origin; returns those to send on, in order. */
  feed(chunk: Buffer): Buffer[] {
    if (this.state === 'through') return [chunk];
    const out: Buffer[] = [];
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    while (data.length > 0) {
      switch (this.state) {
        case 'length': {
          const n = Math.min(this.remaining, data.length);
          out.push(data.subarray(0, n));
          data = data.subarray(n);
          this.remaining -= n;
          if (this.remaining === 0) this.finish();
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.remaining, data.length);
          out.push(data.subarray(0, n));
          data = data.subarray(n);
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'chunk-end';
          break;
        }
        case 'chunk-end': {
          if (data.length < 2) return this.hold(data, out);
          if (data[0] !== 0x0d || data[1] !== 0x0a) return this.passThrough(data, out);
          out.push(data.subarray(0, 2));
          data = data.subarray(2);
          this.state = 'chunk-size';
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          const eol = data.indexOf('\r\n');
          if (eol < 0) return data.length > 4096 ? this.passThrough(data, out) : this.hold(data, out);
          const line = data.subarray(0, eol).toString('latin1');
          out.push(data.subarray(0, eol + 2));
          data = data.subarray(eol + 2);
          if (this.state === 'trailer') {
            if (line === '') this.finish();
            break;
          }
          const n = chunkSize(line);
          if (n === null) return this.passThrough(data, out);
          if (n === 0) this.state = 'trailer';
          else {
            this.state = 'chunk-data';
            this.remaining = n;
          }
          break;
        }
        case 'head': {
          const end = data.indexOf(crlf2);
          if (end < 0) return data.length > maxResponseHeadBytes ? this.passThrough(data, out) : this.hold(data, out);
          const request = this.expected();
          const head = request && parseResponseHead(data.subarray(0, end).toString('latin1'));
          if (!request || !head) return this.passThrough(data, out);
          const rest = data.subarray(end + 4);
          out.push(request.close && head.status >= 200 ? closingHead(head) : data.subarray(0, end + 4));
          data = rest;
          if (!this.framed(head, request)) return this.passThrough(data, out);
          break;
        }
      }
    }
    return out;
  }

  /** Sets up the body that follows `head`; false when it runs until the origin closes (or cannot be read). */
  /** The origin closed: the part of a head held back goes on as it came. */
  flush(): Buffer[] {
    const held = this.pending;
    this.pending = null;
    this.state = 'through';
    this.closing = true;
    return held ? [held] : [];
  }

  private framed(head: ResponseHead, request: ExpectedResponse): boolean {
    const { status } = head;
    if (status === 101) return false;
    if (status < 200) return true; // interim (100 Continue, 103 Early Hints): the final response follows.
    const connection = head.values('connection').join(',').toLowerCase();
    if (/(^|[\s,])close($|[\s,])/.test(connection)) this.closing = true;
    if (head.version === 'HTTP/1.0' && !/(^|[\s,])keep-alive($|[\s,])/.test(connection)) this.closing = true;
    if (request.method === 'HEAD' || status === 204 || status === 304) {
      this.finish();
      return true;
    }
    const te = head.values('transfer-encoding');
    const cl = head.values('content-length');
    if (te.length > 0) {
      const codings = te.join(',').split(',');
      if (cl.length > 0 || codings.at(-1)?.trim().toLowerCase() !== 'chunked') return false;
      this.state = 'chunk-size';
      return true;
    }
    if (cl.length === 0) return false;
    const values = new Set(
      cl
        .join(',')
        .split(',')
        .map((v) => v.trim()),
    );
    const [only] = values;
    if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) return false;
    this.remaining = Number(only);
    if (this.remaining === 0) this.finish();
    else this.state = 'length';
    return true;
  }

  private finish(): void {
    this.state = 'head';
    this.complete();
  }

  private hold(data: Buffer, out: Buffer[]): Buffer[] {
    this.pending = Buffer.from(data);
    return out;
  }

  private passThrough(data: Buffer, out: Buffer[]): Buffer[] {
    this.state = 'through';
    this.closing = true;
    if (data.length > 0) out.push(data);
    return out;
  }
}

interface ResponseHead {
  version: string;
  status: number;
  statusLine: string;
  lines: string[];
  values(name: string): string[];
}

function parseResponseHead(text: string): ResponseHead | null {
  const lines = text.split('\r\n');
  const statusLine = lines.shift() ?? '';
  const m = /^(HTTP\/1\.[01]) (\d{3})(?: |$)/.exec(statusLine);
  if (!m) return null;
  // A name we would not read the way the origin meant (a space before the colon, folding) could hide its framing.
  for (const line of lines) if (!tokenRe.test(line.slice(0, Math.max(0, line.indexOf(':')))) || /[\r\n\0]/.test(line)) return null;
  return {
    version: m[1] as string,
    status: Number(m[2]),
    statusLine,
    lines,
    values(name) {
      const prefix = `${name}:`;
      return lines.filter((l) => l.slice(0, prefix.length).toLowerCase() === prefix).map((l) => l.slice(prefix.length).trim());
    },
  };
}

/** The head with the origin's own connection options replaced by `close` (both are hop-by-hop). */
function closingHead(head: ResponseHead): Buffer {
  const kept = head.lines.filter((l) => !/^(connection|keep-alive)\s*:/i.test(l));
  return Buffer.from(`${[head.statusLine, ...kept, 'Connection: close'].join('\r\n')}\r\n\r\n`, 'latin1');
}
