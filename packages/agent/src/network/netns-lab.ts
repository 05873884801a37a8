import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { execCommand, type Exec } from './isolation.ts';

/**
 * A small network made of namespaces a test creates, standing in for a Raspberry Pi on a
 * home network. Nothing in it touches the machine's own interfaces or any address the test
 * did not make up, and every namespace is deleted by `destroy()`.
 *
 *   renter ── bridge p2pvps0 ── device ── home LAN ── home (router + a home host) ── wan ── internet
 *   10.213.0.2     10.213.0.1         192.168.77.1   192.168.77.2   203.0.113.1       203.0.113.10
 *   fd00:213::2    fd00:213::1        fd00:77::1     fd00:77::2     2001:db8:113::1   2001:db8:113::10
 *
 * `device` plays the Pi's own network namespace, where the agent applies its rules, with
 * the renter bridge's name; `renter` plays the container. 203.0.113.0/24 (TEST-NET-3,
 * RFC 5737) and 2001:db8::/32 (RFC 3849) stand in for the internet: documentation ranges,
 * never routed anywhere, here only inside the lab.
 *
 * The home has more than its LAN, all of it answered by the home host (addresses on its
 * loopback): 198.51.100.0/24 (TEST-NET-2), a public-range network the device reaches through
 * the home router as over a VPN; a global IPv6 prefix 2001:db8:77::/48 delegated to the home,
 * whose /64 2001:db8:77:1::/64 is the device's LAN and 2001:db8:77:2::/64 another home network;
 * and the addresses a NAT64 gateway (64:ff9b::/96) and a 6to4 router (2002::/16) would
 * translate to the home host's 192.168.77.2.
 */

export const lab = {
  renter: '10.213.0.2',
  bridgeAddress: '10.213.0.1',
  deviceLan: '192.168.77.1',
  home: '192.168.77.2',
  internet: '203.0.113.10',
  // IPv6: ULA (fc00::/7) inside the device and the home, 2001:db8::/32 (documentation) as the internet.
  renter6: 'fd00:213::2',
  bridgeAddress6: 'fd00:213::1',
  deviceLan6: 'fd00:77::1',
  home6: 'fd00:77::2',
  internet6: '2001:db8:113::10',
  /** On a network behind the home router that the device has a route to (a VPN, say). */
  homeBehindGateway: '198.51.100.1',
  /** The device's global address, and a home host on another /64 of the home's delegated prefix. */
  deviceLanGlobal6: '2001:db8:77:1::1',
  homeOtherPrefix6: '2001:db8:77:2::1',
  /** 192.168.77.2 behind NAT64 (64:ff9b::c0a8:4d02) and 6to4 (2002:c0a8:4d02::1). */
  homeNat64: '64:ff9b::c0a8:4d02',
  home6to4: '2002:c0a8:4d02::1',
} as const;

export function netnsTestsPossible(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, iptables, tc)';
  for (const tool of ['ip', 'iptables-restore', 'ip6tables-restore', 'tc']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
  }
  return false;
}

// A peer in a namespace: listens on the ports it is given and serves one of four things.
// name: says its name. source:N sends N bytes. sink: counts what it receives, then says how many.
// echo: sends back what it receives.
const peerScript = `
const net = require('net');
const [name, ...specs] = process.argv.slice(1);
for (const spec of specs) {
  const [port, mode, arg] = spec.split(':');
  net.createServer((s) => {
    s.on('error', () => {});
    if (mode === 'name') s.end(name + '\\n');
    else if (mode === 'source') s.end(Buffer.alloc(Number(arg), 120));
    else if (mode === 'echo') s.pipe(s);
    else { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => s.end(String(n))); }
  }).listen(Number(port), '::');
}
process.stdout.write('ready\\n');
`;

// A client: connects, optionally sends N bytes, reads to the end; prints JSON.
const clientScript = `
const net = require('net');
const [host, port, send, timeoutMs] = process.argv.slice(1);
const t0 = Date.now();
let data = Buffer.alloc(0);
const s = net.connect({ host, port: Number(port) });
const done = (r) => { process.stdout.write(JSON.stringify({ ...r, ms: Date.now() - t0 })); process.exit(0); };
s.setTimeout(Number(timeoutMs), () => done({ ok: false, error: 'timeout', bytes: data.length }));
s.on('connect', () => { if (Number(send) > 0) s.end(Buffer.alloc(Number(send), 121)); });
s.on('data', (d) => (data = Buffer.concat([data, d])));
s.on('end', () => done({ ok: true, bytes: data.length, text: data.length < 100 ? data.toString() : '' }));
s.on('error', (e) => done({ ok: false, error: e.code || e.message, bytes: data.length }));
`;

// A client that keeps its connection: sends each line of its input and prints the echo, or "timeout".
const echoClientScript = `
const s = require('net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.on('error', (e) => console.log(e.code || e.message));
let timer;
s.on('data', (d) => { clearTimeout(timer); process.stdout.write(d); });
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  s.write(line + '\\n');
  timer = setTimeout(() => console.log('timeout'), 2000);
});
`;

export interface ConnectResult {
  ok: boolean;
  error?: string;
  bytes: number;
  text?: string;
  ms: number;
}

export class NetnsLab {
  readonly prefix = `p2pt${randomBytes(3).toString('hex')}`;
  readonly ns = {
    renter: `${this.prefix}-renter`,
    device: `${this.prefix}-device`,
    home: `${this.prefix}-home`,
    internet: `${this.prefix}-inet`,
  };
  private readonly peers: ChildProcess[] = [];

  /** Runs a command inside one of the lab's namespaces (how the agent's rules get into `device`). */
  execIn(ns: string): Exec {
    return (argv, input) => execCommand(['ip', 'netns', 'exec', ns, ...argv], input);
  }

  private ip(...args: string[]): void {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  private inNs(ns: string, ...args: string[]): void {
    execFileSync('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  /** A veth pair with one end in each namespace; the ends are created inside `a` so no name is ever in the host's namespace. */
  private link(a: string, aName: string, b: string, bName: string): void {
    this.inNs(a, 'ip', 'link', 'add', aName, 'type', 'veth', 'peer', 'name', bName, 'netns', b);
    this.inNs(a, 'ip', 'link', 'set', aName, 'up');
    this.inNs(b, 'ip', 'link', 'set', bName, 'up');
  }

  create(bridge: string): void {
    const { renter, device, home, internet } = this.ns;
    for (const ns of Object.values(this.ns)) {
      this.ip('netns', 'add', ns);
      this.inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    }
    // The renter bridge in the device, with the renter's veth on it, as Docker does.
    this.inNs(device, 'ip', 'link', 'add', bridge, 'type', 'bridge');
    this.inNs(device, 'ip', 'addr', 'add', `${lab.bridgeAddress}/24`, 'dev', bridge);
    this.inNs(device, 'ip', 'link', 'set', bridge, 'up');
    this.link(device, 'vethrenter', renter, 'eth0');
    this.inNs(device, 'ip', 'link', 'set', 'vethrenter', 'master', bridge);
    this.inNs(renter, 'ip', 'addr', 'add', `${lab.renter}/24`, 'dev', 'eth0');
    this.inNs(renter, 'ip', 'route', 'add', 'default', 'via', lab.bridgeAddress);
    // The device on the home LAN; the home router is its way out.
    this.link(device, 'lan0', home, 'lan0');
    this.inNs(device, 'ip', 'addr', 'add', `${lab.deviceLan}/24`, 'dev', 'lan0');
    this.inNs(home, 'ip', 'addr', 'add', `${lab.home}/24`, 'dev', 'lan0');
    this.inNs(device, 'ip', 'route', 'add', 'default', 'via', lab.home);
    this.inNs(device, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    // The home router's uplink to the internet.
    this.link(home, 'wan0', internet, 'wan0');
    this.inNs(home, 'ip', 'addr', 'add', '203.0.113.1/24', 'dev', 'wan0');
    this.inNs(internet, 'ip', 'addr', 'add', `${lab.internet}/24`, 'dev', 'wan0');
    this.inNs(internet, 'ip', 'route', 'add', 'default', 'via', '203.0.113.1');
    this.inNs(home, 'ip', 'route', 'add', '10.213.0.0/24', 'via', lab.deviceLan);
    this.inNs(home, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    // The same over IPv6 (nodad: usable at once).
    const addr6 = (ns: string, cidr: string, dev: string) => this.inNs(ns, 'ip', '-6', 'addr', 'add', cidr, 'dev', dev, 'nodad');
    addr6(device, `${lab.bridgeAddress6}/64`, bridge);
    addr6(renter, `${lab.renter6}/64`, 'eth0');
    addr6(device, `${lab.deviceLan6}/64`, 'lan0');
    addr6(home, `${lab.home6}/64`, 'lan0');
    addr6(home, '2001:db8:113::1/64', 'wan0');
    addr6(internet, `${lab.internet6}/64`, 'wan0');
    this.inNs(renter, 'ip', '-6', 'route', 'add', 'default', 'via', lab.bridgeAddress6);
    this.inNs(device, 'ip', '-6', 'route', 'add', 'default', 'via', lab.home6);
    this.inNs(home, 'ip', '-6', 'route', 'add', 'fd00:213::/64', 'via', lab.deviceLan6);
    this.inNs(internet, 'ip', '-6', 'route', 'add', 'default', 'via', '2001:db8:113::1');
    for (const ns of [device, home]) this.inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1');
    // The rest of the home (see above): the home host answers for all of it.
    this.inNs(home, 'ip', 'addr', 'add', `${lab.homeBehindGateway}/32`, 'dev', 'lo');
    this.inNs(device, 'ip', 'route', 'add', '198.51.100.0/24', 'via', lab.home);
    addr6(device, `${lab.deviceLanGlobal6}/64`, 'lan0');
    addr6(home, '2001:db8:77:1::2/64', 'lan0');
    for (const a of [lab.homeOtherPrefix6, lab.homeNat64, lab.home6to4]) addr6(home, `${a}/128`, 'lo');
  }

  /** Starts a peer in `ns` serving `specs` ("8080:name", "8081:source:BYTES", "8082:sink"); resolves once it listens. */
  async serve(ns: string, name: string, specs: string[]): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', peerScript, name, ...specs], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.peers.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`peer ${name} exited with ${code}`)));
    });
  }

  /** Connects from `ns` to host:port, sending `send` bytes; never takes longer than `timeoutMs` (plus node's start). */
  async connect(ns: string, host: string, port: number, o: { send?: number; timeoutMs?: number } = {}): Promise<ConnectResult> {
    const out = await execCommand([
      'ip',
      'netns',
      'exec',
      ns,
      process.execPath,
      '-e',
      clientScript,
      host,
      String(port),
      String(o.send ?? 0),
      String(o.timeoutMs ?? 3000),
    ]);
    return JSON.parse(out) as ConnectResult;
  }

  /**
   * Opens a connection from `ns` to an echo peer and keeps it; each `say` sends a line and
   * resolves with the line echoed, or "timeout" after 2 s.
   */
  openEcho(ns: string, host: string, port: number): { say(line: string): Promise<string> } {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', echoClientScript, host, String(port)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.peers.push(child);
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    return {
      say: async (line) => {
        child.stdin!.write(`${line}\n`);
        return ((await lines.next()).value as string | undefined) ?? 'closed';
      },
    };
  }

  /** Kills the peers and deletes every namespace (and with them every veth, bridge, rule and qdisc in them). */
  destroy(): void {
    for (const p of this.peers) p.kill('SIGKILL');
    for (const ns of Object.values(this.ns)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}
