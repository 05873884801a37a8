import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

/**
 * A device smaller than it looks, for tests of verified hardware: a cgroup that caps CPU and
 * memory below what the machine reports, and a network namespace whose only way to the server
 * is a veth capped by `tc` (tbf). The namespaces are the test's own; traffic between them and
 * the server on loopback crosses by Unix sockets, so no address outside them is used.
 */

/** A cgroup (v1 or v2) with a CPU quota and a memory limit; `enter` is a shell prefix that joins it. */
export function makeCgroup(o: { cpus: number; memoryBytes: number }): { enter: string; destroy(): void } {
  const name = `p2pvps-bench-${randomBytes(3).toString('hex')}`;
  const v2 = !existsSync('/sys/fs/cgroup/cpu');
  const dirs: string[] = [];
  if (v2) {
    const dir = join('/sys/fs/cgroup', name);
    mkdirSync(dir);
    dirs.push(dir);
    writeFileSync(join(dir, 'cpu.max'), `${Math.round(o.cpus * 100_000)} 100000`);
    writeFileSync(join(dir, 'memory.max'), String(o.memoryBytes));
  } else {
    const cpu = join('/sys/fs/cgroup/cpu', name);
    mkdirSync(cpu);
    dirs.push(cpu);
    writeFileSync(join(cpu, 'cpu.cfs_period_us'), '100000');
    writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(Math.round(o.cpus * 100_000)));
    // Under the memory cgroup this process is in, so the machine's own limits still hold.
    const own = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
    const memory = join('/sys/fs/cgroup/memory', own, name);
    mkdirSync(memory);
    dirs.push(memory);
    writeFileSync(join(memory, 'memory.limit_in_bytes'), String(o.memoryBytes));
  }
  return {
    enter: dirs.map((d) => `echo $$ > ${d}/cgroup.procs;`).join(' '),
    destroy: () => {
      for (const d of dirs) {
        try {
          rmdirSync(d);
        } catch {
          /* a process still in it; the test's cleanup killed it, the kernel lets go shortly */
        }
      }
    },
  };
}

// A TCP relay inside a namespace: listens on host:port, carries each connection to a TCP
// address or a Unix socket. Plain JavaScript, so `node -e` runs it without a loader.
const relaySource = `
const net = require('net');
const [host, port, target] = process.argv.slice(1);
const [kind, a, b] = target.split('|');
net.createServer((c) => {
  const up = kind === 'unix' ? net.connect(a) : net.connect(Number(b), a);
  c.pipe(up).pipe(c);
  c.on('error', () => up.destroy());
  up.on('error', () => c.destroy());
}).listen(Number(port), host, () => process.stdout.write('ready\\n'));
`;

const ip = (...args: string[]) => {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
};

export interface CappedNetwork {
  /** The namespace the device runs in: `nsenter --net=PATH`. */
  netnsPath: string;
  destroy(): Promise<void>;
}

/**
 * The device's namespace `dev` reaches the server only through a veth to namespace `srv`,
 * whose egress on the device's side is capped at `mbit` by a token bucket: the device's
 * uplink. In `dev`, 127.0.0.1:httpPort (the API) and 127.0.0.1:gatewayPort (the tunnel) are
 * relays; the tunnel's crosses the veth. `srv` hands it to a Unix socket this process
 * carries to the server's gateway on loopback.
 */
export async function makeCappedNetwork(o: { mbit: number; httpPort: number; gatewayPort: number; dir: string }): Promise<CappedNetwork> {
  const tag = randomBytes(3).toString('hex');
  const dev = `p2pb-dev-${tag}`;
  const srv = `p2pb-srv-${tag}`;
  const children: ChildProcess[] = [];
  const bridges: net.Server[] = [];
  const destroy = async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const b of bridges) b.close();
    spawnSync('ip', ['netns', 'del', dev]);
    spawnSync('ip', ['netns', 'del', srv]);
  };
  try {
    ip('netns', 'add', dev);
    ip('netns', 'add', srv);
    ip('-n', dev, 'link', 'set', 'lo', 'up');
    ip('-n', srv, 'link', 'set', 'lo', 'up');
    ip('-n', dev, 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'downlink', 'netns', srv);
    // 198.51.100.0/24 (TEST-NET-2): a documentation range, here only between the two namespaces.
    ip('-n', dev, 'addr', 'add', '198.51.100.1/30', 'dev', 'uplink');
    ip('-n', srv, 'addr', 'add', '198.51.100.2/30', 'dev', 'downlink');
    ip('-n', dev, 'link', 'set', 'uplink', 'up');
    ip('-n', srv, 'link', 'set', 'downlink', 'up');
    const tc = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        dev,
        'tc',
        'qdisc',
        'add',
        'dev',
        'uplink',
        'root',
        'tbf',
        'rate',
        `${o.mbit}mbit`,
        'burst',
        '32kb',
        'latency',
        '50ms',
      ],
      { encoding: 'utf8' },
    );
    if (tc.status !== 0) throw new Error(`tc: ${tc.stderr}`);

    const bridge = (path: string, port: number) =>
      new Promise<void>((resolve) => {
        const server = net.createServer((c) => {
          const up = net.connect(port, '127.0.0.1');
          c.pipe(up).pipe(c);
          c.on('error', () => up.destroy());
          up.on('error', () => c.destroy());
        });
        bridges.push(server);
        server.listen(path, resolve);
      });
    const relay = (ns: string, host: string, port: number, target: string) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(
          'nsenter',
          [`--net=/var/run/netns/${ns}`, '--', process.execPath, '-e', relaySource, host, String(port), target],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        children.push(child);
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`relay in ${ns} exited (${code})`)));
      });
    const apiSock = join(o.dir, 'api.sock');
    const gwSock = join(o.dir, 'gateway.sock');
    await bridge(apiSock, o.httpPort);
    await bridge(gwSock, o.gatewayPort);
    await relay(dev, '127.0.0.1', o.httpPort, `unix|${apiSock}`);
    await relay(srv, '198.51.100.2', o.gatewayPort, `unix|${gwSock}`);
    await relay(dev, '127.0.0.1', o.gatewayPort, `tcp|198.51.100.2|${o.gatewayPort}`);
    return { netnsPath: `/var/run/netns/${dev}`, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}
