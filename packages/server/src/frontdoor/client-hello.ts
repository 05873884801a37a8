/**
 * Reads the server name (SNI) from the start of a TLS connection without terminating
 * TLS: the bytes are only looked at and are passed on unchanged.
 */
export type ClientHelloResult =
  /** More bytes are needed. */
  | { kind: 'incomplete' }
  /** Not a TLS ClientHello at all (plain HTTP on the TLS port, garbage). */
  | { kind: 'not_tls' }
  /** A whole ClientHello; `serverName` is null when the client sent no SNI. */
  | { kind: 'hello'; serverName: string | null };

const handshakeRecord = 22;
const clientHello = 1;
const sniExtension = 0;

/**
 * Parses `data`, the first bytes the client sent. A ClientHello may span several TLS
 * records (large post-quantum key shares do); the handshake message is reassembled
 * from their fragments before it is read. Never reads past `data`.
 */
export function parseClientHello(data: Buffer): ClientHelloResult {
  const fragments: Buffer[] = [];
  let have = 0;
  let need = -1;
  let offset = 0;
  while (need < 0 || have < need) {
    if (data.length < offset + 5) return { kind: 'incomplete' };
    const type = data[offset] as number;
    const major = data[offset + 1] as number;
    const length = data.readUInt16BE(offset + 3);
    if (type !== handshakeRecord || major !== 3 || length === 0 || length > 16_384) return { kind: 'not_tls' };
    if (data.length < offset + 5 + length) return { kind: 'incomplete' };
    fragments.push(data.subarray(offset + 5, offset + 5 + length));
    have += length;
    offset += 5 + length;
    if (need < 0 && have >= 4) {
      const first = Buffer.concat(fragments);
      if (first[0] !== clientHello) return { kind: 'not_tls' };
      need = 4 + first.readUIntBE(1, 3);
    }
  }
  const hello = Buffer.concat(fragments).subarray(4, need);
  try {
    return { kind: 'hello', serverName: serverNameOf(hello) };
  } catch {
    return { kind: 'not_tls' };
  }
}

/** Walks the ClientHello body to the server_name extension; throws RangeError on truncation. */
function serverNameOf(hello: Buffer): string | null {
  let p = 2 + 32; // legacy_version, random
  p += 1 + need(hello, p, 1).readUInt8(p); // session id
  p += 2 + need(hello, p, 2).readUInt16BE(p); // cipher suites
  p += 1 + need(hello, p, 1).readUInt8(p); // compression methods
  if (p === hello.length) return null; // no extensions at all
  const end = p + 2 + need(hello, p, 2).readUInt16BE(p);
  p += 2;
  while (p + 4 <= end) {
    const type = hello.readUInt16BE(p);
    const len = hello.readUInt16BE(p + 2);
    p += 4;
    if (type === sniExtension) {
      let q = p + 2; // server_name_list length
      while (q + 3 <= p + len) {
        const nameType = need(hello, q, 3).readUInt8(q);
        const nameLen = hello.readUInt16BE(q + 1);
        q += 3;
        if (nameType === 0) {
          // latin1 keeps every byte as it is: Node's 'ascii' would clear the high bit and
          // read the bytes E1 62 63 as "abc". A name with any non-ASCII byte is no name of ours.
          const name = need(hello, q, nameLen)
            .subarray(q, q + nameLen)
            .toString('latin1');
          return /^[a-zA-Z0-9.-]+$/.test(name) ? name.toLowerCase().replace(/\.$/, '') : null;
        }
        q += nameLen;
      }
      return null;
    }
    p += len;
  }
  return null;
}

function need(buf: Buffer, offset: number, n: number): Buffer {
  if (offset + n > buf.length) throw new RangeError('truncated ClientHello');
  return buf;
}

/** A fatal TLS alert, unrecognized_name (112), sent before closing a connection for an unknown name. */
export const unrecognizedNameAlert = Buffer.from([21, 3, 3, 0, 2, 2, 112]);
