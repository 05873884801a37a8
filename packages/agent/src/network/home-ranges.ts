import { isIP } from 'node:net';

/**
 * Which destinations count as the owner's home, and so are closed to the renter
 * (network/isolation.ts): fixed special-purpose ranges, plus whatever the device's routing
 * table says it can reach other than through its default route.
 */

export const blockedIPv4 = [
  '0.0.0.0/8', // "this" network
  '10.0.0.0/8', // private
  '100.64.0.0/10', // shared address space (carrier-grade NAT)
  '127.0.0.0/8', // loopback (never forwarded, listed for completeness)
  '169.254.0.0/16', // link-local, including cloud metadata services
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.88.99.0/24', // 6to4 relay anycast: a relay may lead back into an IPv6 home network
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and the broadcast address
];

// The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)
// are not listed: they are never routed, so they lead nowhere, and the namespace lab uses
// them as its internet.
export const blockedIPv6 = [
  '::/96', // unspecified, loopback, and IPv4-compatible (deprecated): any IPv4 address, private ones too, in IPv6 form
  '::ffff:0:0/96', // IPv4-mapped
  '64:ff9b::/96', // NAT64, well-known prefix: a home NAT64 gateway would carry 64:ff9b::192.168.1.1 to 192.168.1.1
  '64:ff9b:1::/48', // NAT64, local use (RFC 8215)
  '100::/64', // discard-only
  '2001::/32', // Teredo: tunnels that embed IPv4 addresses and ports
  '2001:2::/48', // benchmarking
  '2002::/16', // 6to4: embeds an IPv4 address, so 2002:c0a8:101:: is 192.168.1.1 behind a 6to4 router
  'fc00::/7', // unique local (ULA)
  'fe80::/10', // link-local
  'fec0::/10', // site-local (deprecated, still understood by old stacks)
  'ff00::/8', // multicast
];

/**
 * A home gets a delegated IPv6 prefix and numbers each of its networks with a /64 out of it,
 * so the device sees one /64 while the home's other networks (the Wi-Fi, the guest network,
 * the NAS's VLAN) are routed through the home router like the internet. A /48 is the largest
 * delegation a home gets (/56 and /60 are common too); closing the /48 around every connected
 * global /64 covers all of them, at the cost of a few other customers of the same ISP, which a
 * renter has no reason to reach. The owner's allow-list can open any of it again.
 */
export const homeDelegationPrefix = 48;

/**
 * Routes in a table that are broader than this lead to the internet, not to a network behind
 * the device: a VPN that takes all traffic installs 0.0.0.0/1 + 128.0.0.0/1 or 2000::/3
 * instead of replacing the default route.
 */
const broadestHomeRoute = { 4: 8, 6: 16 } as const;

export interface Route {
  dst?: string;
  dev?: string;
  gateway?: string;
  type?: string;
}

/**
 * The networks in `ip -j route show table all`: directly connected ones and those reached
 * through a gateway (a VPN, a second router), in every routing table (VPNs with policy
 * routing keep theirs in a table of their own), except the default route, routes broader
 * than a home network, local and broadcast entries, and those of the interfaces in `skip`.
 * For each global IPv6 network the enclosing delegated prefix is added (homeDelegationPrefix).
 */
export function homeNetworks(routes: readonly Route[], family: 4 | 6, skip: readonly string[]): string[] {
  const found = new Set<string>();
  for (const r of routes) {
    if (!r.dst || r.dst === 'default' || (r.dev && skip.includes(r.dev)) || (r.type && r.type !== 'unicast')) continue;
    const [address, prefixText] = r.dst.split('/');
    if (isIP(address ?? '') !== family) continue;
    // Every interface, and every container's veth, has its own fe80::/64 route: they come and
    // go with containers, and link-local is always blocked anyway (blockedIPv6).
    if (family === 6 && (ipv6Groups(address!)[0]! & 0xffc0) === 0xfe80) continue;
    const prefix = prefixText === undefined ? (family === 4 ? 32 : 128) : Number(prefixText);
    if (!Number.isInteger(prefix) || prefix < broadestHomeRoute[family]) continue;
    found.add(`${address}/${prefix}`);
    if (family === 6 && prefix > homeDelegationPrefix && isGlobalUnicast(address!))
      found.add(`${ipv6Prefix(address!, homeDelegationPrefix)}/${homeDelegationPrefix}`);
  }
  return [...found].sort();
}

/** 2000::/3, the only IPv6 addresses an ISP delegates to homes. */
function isGlobalUnicast(address: string): boolean {
  return (ipv6Groups(address)[0]! & 0xe000) === 0x2000;
}

/** The first `bits` bits of an IPv6 address, the rest zero, in compressed form. */
export function ipv6Prefix(address: string, bits: number): string {
  const groups = ipv6Groups(address).map((g, i) => {
    const keep = Math.min(16, Math.max(0, bits - i * 16));
    return keep === 16 ? g : g & ~(0xffff >> keep) & 0xffff;
  });
  // The longest run of zero groups becomes "::" (RFC 5952).
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; i++) {
    let len = 0;
    while (i + len < 8 && groups[i + len] === 0) len++;
    if (len > best.len) best = { at: i, len };
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** The eight 16-bit groups of an IPv6 address ("::" expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  return tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}
