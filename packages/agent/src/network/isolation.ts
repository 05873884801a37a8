import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { blockedIPv4, blockedIPv6, homeNetworks, type Route } from './home-ranges.ts';

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
 *   private, shared (CGNAT), link-local, multicast and reserved ranges, IPv6 ULA, link-local,
 *   multicast, NAT64 and 6to4, and every network the host has a route to other than its
 *   default route (network/home-ranges.ts), is rejected unless the owner's allow-list names
 *   it. Everything else (the internet) passes on to Docker's rules.
 * - Traffic from the bridge to the host itself passes `P2PVPS-INPUT`, jumped to from INPUT:
 *   only replies pass (the agent's tunnel reaching the container's sshd through the published
 *   loopback port is a connection made by the host), so the renter reaches no service on the
 *   device and none of its addresses.
 * - Bandwidth: a token bucket (tbf) on the bridge's egress caps what the container receives;
 *   its ingress is redirected to an ifb device with a token bucket for what it sends.
 *
 * Other tools may flush or reload the firewall while a rental runs; `verify()` says whether
 * the rules are still as applied and the device's networks unchanged, and IsolationWatch
 * (isolation-watch.ts) calls it every few seconds and re-applies.
 *
 * The same calls, run through `exec` in a network namespace a test creates, are what the
 * netns test checks (isolation.test.ts).
 */

export const renterBridge = 'p2pvps0';

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
const tools = { 4: 'iptables', 6: 'ip6tables' } as const;

/** What apply() put in place, to compare the firewall with later. */
interface Applied {
  connected: Record<4 | 6, string[]>;
  /** The rules of our two chains per family, as iptables-save prints them. */
  rules: Record<4 | 6, Record<string, string[]>>;
  /** The caps in place, Mbit/s each way (0: none), and the rental's cap they were made for. */
  bandwidth?: { uploadMbit: number; downloadMbit: number; rentalMbit: number | null };
}

export class RenterIsolation {
  private readonly exec: Exec;
  readonly bridge: string;
  private applied: Applied | undefined;
  /** The running rental's own cap each way (its offer's bandwidth), in Mbit/s; null for none. */
  private rentalMbit: number | null = null;
  /** The apply in progress: the agent and the watch may both apply; one at a time. */
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly o: IsolationOptions) {
    this.exec = o.exec ?? execCommand;
    this.bridge = o.bridge ?? renterBridge;
  }

  private get ifb(): string {
    return `${this.bridge}-ifb`.slice(0, 15);
  }

  /** The jumps into our chains; each must come first in its chain, so no rule before it lets the renter through. */
  private get jumps(): { chain: string; rule: string[] }[] {
    return [
      { chain: 'DOCKER-USER', rule: ['-i', this.bridge, '-j', forwardChain] },
      { chain: 'INPUT', rule: ['-i', this.bridge, '-j', inputChain] },
    ];
  }

  /**
   * Puts the rules and caps in place, replacing any earlier set at once (iptables-restore),
   * so there is never a moment without them. Idempotent; the agent calls it at start and
   * before it starts or resumes a container, and IsolationWatch whenever verify() finds drift.
   */
  apply(): Promise<void> {
    const run = this.applying.then(() => this.applyNow());
    this.applying = run.catch(() => undefined);
    return run;
  }

  private async applyNow(): Promise<void> {
    const connected = await this.connectedNetworks();
    const applied: Applied = { connected, rules: { 4: {}, 6: {} } };
    for (const family of [4, 6] as const) {
      const tool = tools[family];
      const ruleset = this.ruleset(family, connected[family]);
      await this.exec([`${tool}-restore`, '--noflush'], ruleset);
      // DOCKER-USER exists once Docker has run with its firewall on; make it otherwise (a test's netns).
      await this.exec([tool, '-w', '-N', 'DOCKER-USER']).catch(() => undefined);
      await this.ensureRule(tool, 'FORWARD', ['-j', 'DOCKER-USER']);
      for (const { chain, rule } of this.jumps) await this.ensureFirst(tool, chain, rule);
      // What is in place now is what verify() compares with; iptables-save prints rules in
      // its own canonical form, which is why it is read back rather than derived from `ruleset`.
      const rules = chainRules(await this.exec([`${tool}-save`, '-t', 'filter']));
      for (const chain of [forwardChain, inputChain]) {
        const want = ruleset.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;
        if (rules[chain]?.length !== want) throw new Error(`${tool}: ${chain} holds ${rules[chain]?.length ?? 0} rules, not ${want}`);
        applied.rules[family][chain] = rules[chain]!;
      }
    }
    this.applied = applied;
    applied.bandwidth = await this.applyBandwidth();
  }

  /** Whether the last apply() put in place the caps for this rental's bandwidth (and rules since). */
  appliedFor(rentalMbit: number | null): boolean {
    return this.applied?.bandwidth?.rentalMbit === rentalMbit;
  }

  /**
   * What differs from the last apply(), in words; empty when the rules are all in place
   * (our chains unchanged and jumped to first, for IPv4 and IPv6) and the device's networks
   * are those they were made for. Rejects when the firewall cannot be read.
   */
  async verify(): Promise<string[]> {
    const applied = this.applied;
    if (!applied) return ['the rules were never applied'];
    const problems: string[] = [];
    const connected = await this.connectedNetworks();
    for (const family of [4, 6] as const) {
      const tool = tools[family];
      const was = applied.connected[family];
      const now = connected[family];
      const added = now.filter((n) => !was.includes(n));
      const gone = was.filter((n) => !now.includes(n));
      if (added.length || gone.length)
        problems.push(
          `the device's IPv${family} networks changed (${[...added.map((n) => `+${n}`), ...gone.map((n) => `-${n}`)].join(' ')})`,
        );
      const rules = chainRules(await this.exec([`${tool}-save`, '-t', 'filter']));
      for (const [chain, want] of Object.entries(applied.rules[family])) {
        const have = rules[chain];
        if (!have) problems.push(`${tool}: the chain ${chain} is empty or gone`);
        else if (have.join('\n') !== want.join('\n')) problems.push(`${tool}: the rules of ${chain} changed`);
      }
      if (!rules['FORWARD']?.includes('-j DOCKER-USER')) problems.push(`${tool}: FORWARD no longer jumps to DOCKER-USER`);
      for (const { chain, rule } of this.jumps) {
        if (rules[chain]?.[0] !== rule.join(' ')) problems.push(`${tool}: ${chain} does not jump to ${rule.at(-1)} first`);
      }
    }
    // The caps too: a restarted Docker engine makes the bridge anew, without them.
    const caps = applied.bandwidth;
    if (caps && (caps.uploadMbit > 0 || caps.downloadMbit > 0)) {
      const qdiscs = JSON.parse((await this.exec(['tc', '-j', 'qdisc', 'show', 'dev', this.bridge]).catch(() => '[]')) || '[]') as {
        kind?: string;
        root?: boolean;
      }[];
      if (caps.downloadMbit > 0 && !qdiscs.some((q) => q.kind === 'tbf' && q.root))
        problems.push(`the download cap on ${this.bridge} is gone`);
      if (caps.uploadMbit > 0 && !qdiscs.some((q) => q.kind === 'ingress')) problems.push(`the upload cap on ${this.bridge} is gone`);
    }
    return problems;
  }

  /** Removes the rules and caps (the agent being uninstalled, a test cleaning up). */
  async remove(): Promise<void> {
    this.applied = undefined;
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
      // The container may answer whoever reached it. Only answers: a connection the renter
      // opened to the home network while another tool had flushed these rules is cut once
      // they are back, not kept open as "established".
      `-A ${forwardChain} -m conntrack --ctstate RELATED,ESTABLISHED --ctdir REPLY -j RETURN`,
      ...allow.map((c) => `-A ${forwardChain} -d ${c!.cidr} -j RETURN`),
      ...blocked.map((cidr) => `-A ${forwardChain} -d ${cidr} -j ${reject}`),
      `-A ${inputChain} -m conntrack --ctstate RELATED,ESTABLISHED --ctdir REPLY -j RETURN`,
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
   * The networks the device has routes to other than its default route (its home network,
   * whatever its addresses, and networks behind a VPN or a second router), except the renter
   * bridge's own; see homeNetworks. Rejects if the routing table cannot be read: an empty
   * list would open those networks.
   */
  async connectedNetworks(): Promise<Record<4 | 6, string[]>> {
    const result: Record<4 | 6, string[]> = { 4: [], 6: [] };
    for (const family of [4, 6] as const) {
      const out = await this.exec(['ip', '-j', `-${family}`, 'route', 'show', 'table', 'all']);
      result[family] = homeNetworks(JSON.parse(out || '[]') as Route[], family, [this.bridge, 'lo']);
    }
    return result;
  }

  /**
   * The rental's bandwidth, as rented: the tighter of it and the owner's device-wide caps
   * holds each way, from the next apply() on. One rental runs at a time, so the bridge's
   * cap is the rental's.
   */
  setRentalCap(mbit: number | null): void {
    this.rentalMbit = mbit;
  }

  /** The bridge's own addresses (the containers' gateway, the device's side). */
  private async bridgeAddresses(): Promise<string[]> {
    const out = await this.exec(['ip', '-j', 'addr', 'show', 'dev', this.bridge]).catch(() => '[]');
    const links = JSON.parse(out || '[]') as { addr_info?: { local?: string; scope?: string }[] }[];
    return links.flatMap((l) => l.addr_info ?? []).flatMap((a) => (a.local && a.scope !== 'link' ? [a.local] : []));
  }

  private async applyBandwidth(): Promise<NonNullable<Applied['bandwidth']>> {
    const cap = (owner: number) => (this.rentalMbit === null ? owner : owner > 0 ? Math.min(owner, this.rentalMbit) : this.rentalMbit);
    const uploadMbit = cap(this.o.uploadMbit);
    const downloadMbit = cap(this.o.downloadMbit);
    const dev = this.bridge;
    if (downloadMbit > 0) await this.exec(['tc', 'qdisc', 'replace', 'dev', dev, 'root', ...tbf(downloadMbit)]);
    else await this.exec(['tc', 'qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined);
    if (uploadMbit > 0) {
      // What the container sends arrives on the bridge's ingress; it is shaped on an ifb device.
      // Packets for the device itself stay out of the ifb: one sent through it and back never
      // reaches the device's own sockets on a Docker bridge, and the tunnel reaches the
      // container's sshd through them (the published port), so a capped rental was cut off.
      // Those are the tunnel's traffic, which the server's gateway meters; ARP and IPv6
      // link-local traffic (neighbour discovery) is local too. Filters are made anew (the
      // ingress qdisc replaced takes the old ones with it), first match wins; one protocol a priority.
      await this.exec(['ip', 'link', 'add', this.ifb, 'type', 'ifb']).catch(() => undefined);
      await this.exec(['ip', 'link', 'set', this.ifb, 'up']);
      await this.exec(['tc', 'qdisc', 'replace', 'dev', this.ifb, 'root', ...tbf(uploadMbit)]);
      await this.exec(['tc', 'qdisc', 'del', 'dev', dev, 'ingress']).catch(() => undefined);
      await this.exec(['tc', 'qdisc', 'add', 'dev', dev, 'ingress']);
      const filter = (protocol: string, prio: number, match: string[], action: string[]) =>
        this.exec([
          'tc',
          'filter',
          'add',
          'dev',
          dev,
          'parent',
          'ffff:',
          'protocol',
          protocol,
          'prio',
          String(prio),
          'u32',
          ...match,
          ...action,
        ]);
      const stay = ['flowid', 'ffff:1'];
      const shape = ['action', 'mirred', 'egress', 'redirect', 'dev', this.ifb];
      for (const a of await this.bridgeAddresses()) {
        if (a.includes(':')) await filter('ipv6', 2, ['match', 'ip6', 'dst', `${a}/128`], stay);
        else await filter('ip', 1, ['match', 'ip', 'dst', `${a}/32`], stay);
      }
      await filter('ipv6', 2, ['match', 'ip6', 'dst', 'fe80::/10'], stay);
      await filter('ipv6', 2, ['match', 'ip6', 'dst', 'ff00::/8'], stay);
      await filter('ip', 3, ['match', 'u32', '0', '0'], shape);
      await filter('ipv6', 4, ['match', 'u32', '0', '0'], shape);
    } else {
      await this.exec(['tc', 'qdisc', 'del', 'dev', dev, 'ingress']).catch(() => undefined);
      await this.exec(['ip', 'link', 'del', this.ifb]).catch(() => undefined);
    }
    if (uploadMbit > 0 || downloadMbit > 0)
      this.o.log?.(`renter bandwidth capped: ${uploadMbit || '∞'} Mbit/s up, ${downloadMbit || '∞'} down`);
    return { uploadMbit, downloadMbit, rentalMbit: this.rentalMbit };
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

  /**
   * Makes the rule the first of its chain, and the only copy: removing copies and inserting
   * it go in one iptables-restore transaction, so it is never missing, not even for a moment.
   */
  private async ensureFirst(tool: string, chain: string, rule: string[]): Promise<void> {
    const spec = rule.join(' ');
    const have = chainRules(await this.exec([tool, '-w', '-S', chain]))[chain] ?? [];
    const copies = have.filter((r) => r === spec).length;
    if (have[0] === spec && copies === 1) return;
    const lines = ['*filter', ...new Array<string>(copies).fill(`-D ${chain} ${spec}`), `-I ${chain} 1 ${spec}`, 'COMMIT', ''];
    await this.exec([`${tool}-restore`, '--noflush'], lines.join('\n'));
  }
}

/** The rules of each chain in iptables-save or `iptables -S` output, without the "-A CHAIN" before them. */
function chainRules(save: string): Record<string, string[]> {
  const chains: Record<string, string[]> = {};
  for (const line of save.split('\n')) {
    const m = /^-A (\S+) (.*)$/.exec(line.trim());
    if (m) (chains[m[1]!] ??= []).push(m[2]!);
  }
  return chains;
}

/** tbf arguments for a rate in Mbit/s: a bucket of 10 ms at that rate (at least 32 KiB), 50 ms of queue. */
function tbf(mbit: number): string[] {
  const burstBytes = Math.max(32 * 1024, Math.round((mbit * 1e6) / 8 / 100));
  return ['tbf', 'rate', `${mbit}mbit`, 'burst', String(burstBytes), 'latency', '50ms'];
}
