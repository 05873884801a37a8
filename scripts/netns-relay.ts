/**
 * Makes loopback ports of this network namespace reachable on the loopback of another one:
 * a connection to 127.0.0.1:PORT inside `netns` arrives at 127.0.0.1:PORT here. The quick
 * start (scripts/demo.ts) runs its agent and Docker engine in a namespace of their own
 * (user namespaces rule out host networking, and their bridge's private addresses must
 * stay off this machine's network), and the agent reaches the server here through it.
 *
 * One process: for each port a short-lived helper started in the namespace with nsenter
 * opens the listening socket there and hands it over the IPC channel; a socket keeps the
 * namespace it was made in, so this process accepts connections inside the namespace and
 * connects out here.
 *
 *   node --import tsx scripts/netns-relay.ts /var/run/netns/NAME PORT...
 */
import { spawn } from 'node:child_process';
import { connect, type Server, type Socket } from 'node:net';

const listener = `
const net = require('node:net');
const server = net.createServer();
server.on('error', (err) => { console.error(err.message); process.exit(1); });
server.listen({ host: '127.0.0.1', port: Number(process.argv[1]) }, () =>
  process.send('listening', server, () => process.exit(0)));
`;

/** Opens 127.0.0.1:port inside the namespace at `netnsPath`, as a server of this process. */
function listenInside(netnsPath: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, '-e', listener, String(port)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.once('message', (_msg, handle) => resolve(handle as Server));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`cannot listen on 127.0.0.1:${port} in ${netnsPath}: ${stderr.trim() || `exit ${code}`}`));
    });
  });
}

export interface NetnsRelay {
  close(): void;
}

/** Relays each port from inside the namespace to the same port on this one's loopback. */
export async function relayIntoNetns(netnsPath: string, ports: readonly number[]): Promise<NetnsRelay> {
  const servers: Server[] = [];
  const open = new Set<Socket>();
  for (const port of ports) {
    const server = await listenInside(netnsPath, port);
    // The server object is made anew from the handed-over socket, without the helper's
    // options; half-open connections (a client that sends, shuts down its side and waits for
    // the answer) must stay open.
    (server as Server & { allowHalfOpen: boolean }).allowHalfOpen = true;
    server.on('connection', (inside) => {
      const outside = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      // Half-closes pass through (pipe ends the other side); a side that fails takes the other with it.
      for (const [s, other] of [
        [inside, outside],
        [outside, inside],
      ] as const) {
        open.add(s);
        s.pipe(other);
        s.on('error', () => other.destroy());
        s.on('close', () => (open.delete(s), other.end()));
      }
    });
    servers.push(server);
  }
  return {
    close() {
      for (const s of servers) s.close();
      for (const s of open) s.destroy();
    },
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [netnsPath, ...ports] = process.argv.slice(2);
  if (!netnsPath || ports.length === 0 || ports.some((p) => !/^\d+$/.test(p))) {
    console.error('usage: netns-relay.ts /var/run/netns/NAME PORT...');
    process.exit(2);
  }
  const relay = await relayIntoNetns(netnsPath, ports.map(Number));
  console.log(`relaying 127.0.0.1:${ports.join(',')} from ${netnsPath} to this namespace`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => (relay.close(), process.exit(0)));
}
