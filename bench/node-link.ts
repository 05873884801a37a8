/**
 * The node-to-node link on loopback (packages/server/src/cluster/node-link.ts): the first
 * stream (TCP, SSH key exchange, login with the cluster key, channel), then streams opened
 * over the established link with a one-byte round trip through an echo origin standing
 * where a device's port would be, then bulk bytes echoed through one stream. Both nodes
 * run in this process, so every byte is encrypted and decrypted twice here.
 *
 *   node --import tsx bench/node-link.ts [STREAMS] [MIB]
 */
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { clusterKeys } from '../packages/server/src/cluster/cluster-keys.ts';
import { NodeLinkClient, NodeLinkServer } from '../packages/server/src/cluster/node-link.ts';

const streams = Number(process.argv[2] ?? 300);
const mib = Number(process.argv[3] ?? 64);
const keys = clusterKeys('bench'.repeat(8));
const silent = { info() {}, warn() {} };
const origin = net.createServer((socket) => socket.pipe(socket));
origin.listen(0, '127.0.0.1');
await once(origin, 'listening');
const originPort = (origin.address() as net.AddressInfo).port;
const server = new NodeLinkServer({
  keys,
  log: silent,
  onDisconnect() {},
  openLocal: async () => {
    const socket = net.connect(originPort, '127.0.0.1');
    await once(socket, 'connect');
    return socket;
  },
});
const node = { nodeId: 'b', host: '127.0.0.1', port: await server.listen(0, '127.0.0.1') };
const client = new NodeLinkClient({ nodeId: 'a', keys, log: silent });

let t = performance.now();
(await client.open(node, 'dev', 80, '127.0.0.1', 1)).destroy();
console.log(`first stream (connect, key exchange, login, channel): ${(performance.now() - t).toFixed(1)} ms`);

const times: number[] = [];
for (let i = 0; i < streams; i++) {
  t = performance.now();
  const stream = await client.open(node, 'dev', 80, '127.0.0.1', 1);
  stream.write('x');
  await once(stream, 'data');
  times.push(performance.now() - t);
  stream.destroy();
}
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
console.log(`stream over the established link + 1-byte round trip, ${streams} streams: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);

const stream = await client.open(node, 'dev', 80, '127.0.0.1', 1);
const total = mib * 2 ** 20;
const chunk = Buffer.alloc(64 * 1024);
let got = 0;
t = performance.now();
const echoed = new Promise<void>((resolve) =>
  stream.on('data', (d: Buffer) => {
    got += d.length;
    if (got >= total) resolve();
  }),
);
for (let sent = 0; sent < total; sent += chunk.length) if (!stream.write(chunk)) await once(stream, 'drain');
await echoed;
console.log(`${mib} MiB echoed through one stream: ${(mib / ((performance.now() - t) / 1000)).toFixed(1)} MiB/s each way`);
stream.destroy();
client.close();
await server.close();
origin.close();
