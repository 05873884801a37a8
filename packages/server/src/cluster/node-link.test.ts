import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import ssh2 from 'ssh2';
import { tunnelSshAlgorithms } from '@p2pvps/protocol/tunnel-ssh';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { clusterKeys } from './cluster-keys.ts';
import { NodeLinkClient, NodeLinkServer } from './node-link.ts';
import type { NodeAddress } from '../db/cluster-repo.ts';

/**
 * The node-to-node link with real ssh2 on loopback: a node that knows the cluster secret
 * gets a stream to a device's port, half-close included; a wrong secret, a plain TCP
 * client and a recorded login played back again get nothing.
 */
const secret = 'a'.repeat(64);
const keys = clusterKeys(secret);
const silent = { info() {}, warn() {} };
let origin: net.Server;
let originPort: number;
let server: NodeLinkServer;
let node: NodeAddress;
const opened: string[] = [];

before(async () => {
  // Stands where the device's port would be: echoes upper-cased, then ends when the caller ends.
  origin = net.createServer({ allowHalfOpen: true }, (socket) => {
    let got = '';
    socket.on('data', (d) => (got += d));
    socket.on('end', () => socket.end(`echo:${got.toUpperCase()}`));
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originPort = (origin.address() as net.AddressInfo).port;
  server = new NodeLinkServer({
    keys,
    log: silent,
    openLocal: async (deviceId, port, remoteAddress) => {
      if (deviceId !== 'dev_known') throw new Error('offline');
      opened.push(`${deviceId}:${port}:${remoteAddress}`);
      const socket = net.connect({ port: originPort, host: '127.0.0.1', allowHalfOpen: true });
      await once(socket, 'connect');
      return socket;
    },
    onDisconnect: (deviceId) => opened.push(`disconnect ${deviceId}`),
  });
  node = { nodeId: 'node-b', host: '127.0.0.1', port: await server.listen(0, '127.0.0.1') };
});

after(async () => {
  await server.close();
  origin.close();
});

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk;
  return text;
}

test('a node with the cluster secret opens a stream to a device port, and half-close carries the end across', async () => {
  const client = new NodeLinkClient({ nodeId: 'node-a', keys: clusterKeys(secret), log: silent });
  const stream = await client.open(node, 'dev_known', 80, '203.0.113.9', 5555);
  stream.end('hello');
  assert.equal(await readAll(stream), 'echo:HELLO');
  assert.deepEqual(opened.at(-1), 'dev_known:80:203.0.113.9');
  // A second stream rides the same connection.
  const second = await client.open(node, 'dev_known', 'ssh', '203.0.113.9', 5556);
  second.end('again');
  assert.equal(await readAll(second), 'echo:AGAIN');
  assert.equal(opened.at(-1), 'dev_known:ssh:203.0.113.9');
  assert.equal(server.stats.authenticated, 1);
  // A device this node does not hold is refused, not hung.
  await assert.rejects(client.open(node, 'dev_elsewhere', 443, '203.0.113.9', 1));
  await client.disconnect(node, 'dev_known');
  assert.equal(opened.at(-1), 'disconnect dev_known');
  client.close();
});

test('a node with another secret is refused, and refuses the listening node as well', async () => {
  const before = server.stats.authenticated;
  const wrong = new NodeLinkClient({ nodeId: 'intruder', keys: clusterKeys('b'.repeat(64)), log: silent });
  // Its host-key check fails first: the listening node does not prove the secret it knows.
  await assert.rejects(wrong.open(node, 'dev_known', 80, '127.0.0.1', 1));
  wrong.close();
  // A client that skips that check still cannot log in: its key is not the cluster's.
  const refusedBefore = server.stats.refused;
  const raw = new ssh2.Client();
  const error = new Promise<Error>((resolve) => raw.once('error', resolve));
  raw.connect({
    host: node.host,
    port: node.port,
    username: 'intruder',
    privateKey: generateEd25519KeyPair('intruder').private,
    hostVerifier: () => true,
    algorithms: tunnelSshAlgorithms,
  });
  assert.match((await error).message, /authentication methods failed/);
  raw.end();
  assert.ok(server.stats.refused > refusedBefore);
  assert.equal(server.stats.authenticated, before);
});

test('a recorded login played back is refused, and plain TCP gets no stream', async () => {
  // A proxy records everything a real node sends while it logs in and opens a stream.
  const recorded: Buffer[] = [];
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect(node.port, node.host);
    inbound.on('data', (d) => recorded.push(d));
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const honest = new NodeLinkClient({ nodeId: 'node-a', keys, log: silent });
  const via = { ...node, nodeId: 'via-proxy', port: (proxy.address() as net.AddressInfo).port };
  const stream = await honest.open(via, 'dev_known', 80, '127.0.0.1', 1);
  stream.end('recorded');
  assert.equal(await readAll(stream), 'echo:RECORDED');
  honest.close();
  proxy.close();

  const authenticated = server.stats.authenticated;
  const channels = server.stats.channels;
  for (const bytes of [Buffer.concat(recorded), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]) {
    const replay = net.connect(node.port, node.host);
    replay.on('error', () => {});
    await once(replay, 'connect');
    replay.resume();
    replay.write(bytes);
    // The server's key exchange is fresh, so the recorded one does not fit: it hangs up.
    await once(replay, 'close');
  }
  assert.equal(server.stats.authenticated, authenticated);
  assert.equal(server.stats.channels, channels);
});
