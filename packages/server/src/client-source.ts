import net from 'node:net';

/**
 * The "source" every per-client cap counts by (the gateway's handshake caps and penalties,
 * the front doors' connection caps, the login rate limits): an IPv4 address, IPv4-mapped
 * ones included, or the /64 of an IPv6 address however it is written. A single host
 * usually holds a whole /64, so counting its addresses one by one would count nothing.
 */
export function sourceOf(address: string | undefined): string {
  if (!address) return '';
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4?.[1]) return v4[1];
  if (!net.isIPv6(address.split('%')[0] ?? '')) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head = '', tail] = (address.split('%')[0] ?? '').split('::');
  const groups = (part: string | undefined) => {
    const out = part ? part.split(':') : [];
    const last = out.at(-1);
    // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) fills the last two groups.
    if (last?.includes('.')) {
      const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
      out.splice(-1, 1, ((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
    }
    return out;
  };
  const left = groups(head);
  const right = groups(tail);
  const zeros: string[] = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => parseInt(g, 16).toString(16));
}
