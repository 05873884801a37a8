import { spawn } from 'node:child_process';
import { isIP } from 'node:net';

/**
 * Keeps the renter's container off the owner's home network, and optionally caps its
 * bandwidth. Renter containers sit on the agent's own Docker bridge network (`renterBridge`,
 * see docker/renter-containers.ts); everything here is keyed on that bridge's interface in
 * the host's network namespace, so it holds for whatever container is on it, survives the
 * container's restarts, and is in place before a container starts.
 *
 * - Forwarded traffic from the bridge (the container reaching other hosts) passes
 *   `P2PVPS-FORWARD`, jumped to from `DOCKER-USER`, the chain Docker evaluates before its own
 *   rules and never flushes. Replies to connections made to the container pass; traffic to
 *   private, shared (CGNAT), link-local, multicast and reserved ranges, IPv6 ULA, link-local
 *   and multicast, and every network the host is directly connected to, is rejected unless
 *   the owner's allow-list names it. Everything else (the internet) passes on to Docker's rules.
 * - Traffic from the bridge to the host itself passes `P2PVPS-INPUT`, jumped to from INPUT:
 *   only replies pass (the agent's tunnel reaching the container's sshd through the published
 *   loopback port is a connection made by the host), so the renter reaches no service on the
 *   device and none of its addresses.
 * - Bandwidth: a token bucket (tbf) on the bridge's egress caps what the container receives;
 *   its ingress is redirected to an ifb device with a token bucket for what it sends.
 *
 * The same calls, run through `exec` in a network namespace a test creates, are what the
 * netns test checks (isolation.test.ts).
 */

export const renterBridge = 'p2pvps0';

export const blockedIPv4 = [
  '0.0.0.0/8', // "this" network
  '10.0.0.0/8', // private
  '100.64.0.0/10', // shared address space (carrier-grade NAT)
  '127.0.0.0/8', // loopback (never forwarded, listed for completeness)
  '169.254.0.0/16', // link-local, including cloud metadata services
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and the broadcast address
];

export const blockedIPv6 = [
  '::/128', // unspecified
  '::1/128', // loopback
  '::ffff:0:0/96', // IPv4-mapped
  'fc00::/7', // unique local (ULA)
  'fe80::/10', // link-local
  'ff00::/8', // multicast
];

export interface IsolationOptions {
  /** Destinations (CIDR or address, IPv4 or IPv6) the renter may reach although blocked above. */
  allow: readonly string[];
  /** Caps in megabits per second; 0 is no cap. */
  uploadMbit: number;
  downloadMbit: number;
  /** The renter bridge's interface; `renterBridge` unless a test says otherwise. */
  bridge?: string;
  /** Runs a command (iptables, ip, tc) and returns its stdout; rejects with its stderr. Tests run it in their own netns. */
  exec?: Exec;
  log?: (msg: string) => void;
}

export type Exec = (argv: string[], input?: string) => Promise<string>;

export const execCommand: Exec = (argv, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} exited with ${code}: ${err.trim() || out.trim()}`)),
    );
    if (input !== undefined) child.stdin!.end(input);
  });

/** True for "a.b.c.d", "a.b.c.d/n", an IPv6 address or one with /n. */
export function parseCidr(text: string): { family: 4 | 6; cidr: string } | null {
  const [address, prefix, extra] = text.trim().split('/');
  if (extra !== undefined || !address) return null;
  const family = isIP(address);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= max)) return null;
  return { family: family as 4 | 6, cidr: `${address}/${prefix ?? max}` };
}

const forwardChain = 'P2PVPS-FORWARD';
const inputChain = 'P2PVPS-INPUT';

export class RenterIsolation {
  private readonly exec: Exec;
  readonly bridge: string;

  constructor(private readonly o: IsolationOptions) {
    this.exec = o.exec ?? execCommand;
    this.bridge = o.bridge ?? renterBridge;
  }

  private get ifb(): string {
    return `${this.bridge}-ifb`.slice(0, 15);
  }

  /**
   * Puts the rules and caps in place, replacing any earlier set at once (iptables-restore),
   * so there is never a moment without them. Idempotent; the agent calls it at start and
   * before it starts or resumes a container.
   */
  async apply(): Promise<void> {
    const connected = await this.connectedNetworks();
    for (const family of [4, 6] as const) {
      const tool = family === 4 ? 'iptables' : 'ip6tables';
      await this.exec([`${tool}-restore`, '--noflush'], this.ruleset(family, connected[family]));
      // DOCKER-USER exists once Docker has run with its firewall on; make it otherwise (a test's netns).
      await this.exec([tool, '-w', '-N', 'DOCKER-USER']).catch(() => undefined);
      await this.ensureRule(tool, 'FORWARD', ['-j', 'DOCKER-USER']);
      await this.ensureRule(tool, 'DOCKER-USER', ['-i', this.bridge, '-j', forwardChain]);
      await this.ensureRule(tool, 'INPUT', ['-i', this.bridge, '-j', inputChain]);
    }
    await this.applyBandwidth();
  }

  /** Removes the rules and caps (the agent being uninstalled, a test cleaning up). */
  async remove(): Promise<void> {
    for (const tool of ['iptables', 'ip6tables']) {
      for (const [chain, rule] of [
        ['DOCKER-USER', ['-i', this.bridge, '-j', forwardChain]],
        ['INPUT', ['-i', this.bridge, '-j', inputChain]],
      ] as const) {
        while (await this.has(tool, chain, [...rule])) await this.exec([tool, '-w', '-D', chain, ...rule]);
      }
      for (const chain of [forwardChain, inputChain]) {
        await this.exec([tool, '-w', '-F', chain]).catch(() => undefined);
        await this.exec([tool, '-w', '-X', chain]).catch(() => undefined);
      }
    }
    await this.removeBandwidth();
  }

  /** The ruleset of our two chains for one address family, in iptables-restore form. */
  ruleset(family: 4 | 6, connected: readonly string[]): string {
    const allow = this.o.allow.map(parseCidr).filter((c) => c?.family === family);
    const blocked = [...new Set([...(family === 4 ? blockedIPv4 : blockedIPv6), ...connected])];
    const reject = family === 4 ? 'REJECT --reject-with icmp-admin-prohibited' : 'REJECT --reject-with icmp6-adm-prohibited';
    const lines = [
      '*filter',
      `:${forwardChain} - [0:0]`,
      `:${inputChain} - [0:0]`,
      // The container may answer whoever reached it.
      `-A ${forwardChain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
      ...allow.map((c) => `-A ${forwardChain} -d ${c!.cidr} -j RETURN`),
      ...blocked.map((cidr) => `-A ${forwardChain} -d ${cidr} -j ${reject}`),
      `-A ${inputChain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
      // IPv6 neighbour discovery with the bridge's own address, should the owner enable IPv6 on it.
      ...(family === 6 ? [133, 134, 135, 136].map((t) => `-A ${inputChain} -p ipv6-icmp --icmpv6-type ${t} -j RETURN`) : []),
      ...allow.map((c) => `-A ${inputChain} -d ${c!.cidr} -j RETURN`),
      `-A ${inputChain} -j ${reject}`,
      'COMMIT',
      '',
    ];
    return lines.join('\n');
  }

  /**
   * The networks the host is directly connected to (its home network, whatever its
   * addresses), except the renter bridge's own: a home network on public addresses is
   * blocked too.
   */
  async connectedNetworks(): Promise<Record<4 | 6, string[]>> {
    const result: Record<4 | 6, string[]> = { 4: [], 6: [] };
    for (const family of [4, 6] as const) {
      const out = await this.exec(['ip', '-j', `-${family}`, 'route', 'show', 'table', 'main']).catch(() => '[]');
      for (const r of JSON.parse(out || '[]') as { dst?: string; dev?: string; gateway?: string; scope?: string; type?: string }[]) {
        if (!r.dst || r.dst === 'default' || r.gateway || r.dev === this.bridge || r.dev === 'lo' || (r.type && r.type !== 'unicast'))
          continue;
        const c = parseCidr(r.dst);
        if (c?.family === family) result[family].push(c.cidr);
      }
    }
    return result;
  }

  private async applyBandwidth(): Promise<void> {
    const { uploadMbit, downloadMbit } = this.o;
    const dev = this.bridge;
    if (downloadMbit > 0) await this.exec(['tc', 'qdisc', 'replace', 'dev', dev, 'root', ...tbf(downloadMbit)]);
    else await this.exec(['tc', 'qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined);
    if (uploadMbit > 0) {
      // What the container sends arrives on the bridge's ingress; shape it on an ifb device.
      await this.exec(['ip', 'link', 'add', this.ifb, 'type', 'ifb']).catch(() => undefined);
      await this.exec(['ip', 'link', 'set', this.ifb, 'up']);
      await this.exec(['tc', 'qdisc', 'replace', 'dev', this.ifb, 'root', ...tbf(uploadMbit)]);
      await this.exec(['tc', 'qdisc', 'replace', 'dev', dev, 'ingress']);
      await this.exec([
        'tc',
        'filter',
        'replace',
        'dev',
        dev,
        'parent',
        'ffff:',
        'protocol',
        'all',
        'prio',
        '1',
        'handle',
        '800::1',
        'u32',
        'match',
        'u32',
        '0',
        '0',
        'action',
        'mirred',
        'egress',
        'redirect',
        'dev',
        this.ifb,
      ]);
    } else {
      await this.exec(['tc', 'qdisc', 'del', 'dev', dev, 'ingress']).catch(() => undefined);
      await this.exec(['ip', 'link', 'del', this.ifb]).catch(() => undefined);
    }
    if (uploadMbit > 0 || downloadMbit > 0)
      this.o.log?.(`renter bandwidth capped: ${uploadMbit || '∞'} Mbit/s up, ${downloadMbit || '∞'} down`);
  }

  private async removeBandwidth(): Promise<void> {
    await this.exec(['tc', 'qdisc', 'del', 'dev', this.bridge, 'root']).catch(() => undefined);
    await this.exec(['tc', 'qdisc', 'del', 'dev', this.bridge, 'ingress']).catch(() => undefined);
    await this.exec(['ip', 'link', 'del', this.ifb]).catch(() => undefined);
  }

  private has(tool: string, chain: string, rule: string[]): Promise<boolean> {
    return this.exec([tool, '-w', '-C', chain, ...rule]).then(
      () => true,
      () => false,
    );
  }

  /** Puts the rule first in the chain unless it is there already. */
  private async ensureRule(tool: string, chain: string, rule: string[]): Promise<void> {
    if (!(await this.has(tool, chain, rule))) await this.exec([tool, '-w', '-I', chain, '1', ...rule]);
  }
}

/** tbf arguments for a rate in Mbit/s: a bucket of 10 ms at that rate (at least 32 KiB), 50 ms of queue. */
function tbf(mbit: number): string[] {
  const burstBytes = Math.max(32 * 1024, Math.round((mbit * 1e6) / 8 / 100));
  return ['tbf', 'rate', `${mbit}mbit`, 'burst', String(burstBytes), 'latency', '50ms'];
}
