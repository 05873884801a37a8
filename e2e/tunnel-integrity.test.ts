import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { TunnelClient } from '@p2pvps/agent/tunnel-client';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { TunnelGateway } from '@p2pvps/server/gateway/tunnel-gateway';
import { portBlock, waitFor } from './harness.ts';

/**
 * Bytes through the tunnel arrive whole and in order, both ways, also when a side closes
 * right after its last byte: the real gateway and the agent's real tunnel client, a
 * loopback origin standing in for the container.
 */
const payload = randomBytes(24 * 1024 * 1024);
const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let gateway: TunnelGateway;
let client: TunnelClient;
let origin: net.Server;
let publicPort: number;
let uploads: Buffer[] = [];

before(async () => {
  // The origin sends the payload and closes at once; what it is sent, it keeps.
  origin = net.createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => {
      uploads.push(Buffer.concat(chunks));
      socket.end();
    });
    socket.on('error', () => {});
    socket.write(payload);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const host = generateEd25519KeyPair('gateway');
  const device = generateEd25519KeyPair('device');
  publicPort = portBlock(1);
  gateway = new TunnelGateway({
    hostKey: host.private,
    publicBindHost: '127.0.0.1',
    lookupDevice: async (id) => (id === 'dev1' ? { deviceId: 'dev1', publicKey: device.public, sshPort: publicPort } : null),
  });
  const gatewayPort = await gateway.listen(0, '127.0.0.1');
  client = new TunnelClient({
    registration: { deviceId: 'dev1', sshPort: publicPort, gateway: { host: '127.0.0.1', port: gatewayPort, hostKey: host.public } },
    privateKey: device.private,
    localPort: (origin.address() as net.AddressInfo).port,
    log: () => {},
  });
  client.start();
  await waitFor('the tunnel', async () => gateway.isOnline('dev1'));
});

after(async () => {
  client.close();
  await gateway.close();
  origin.close();
});

/** A visitor that sends `upload`, half-closes, and reads until the device closes. */
function visit(upload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: publicPort, host: '127.0.0.1', allowHalfOpen: true }, () => socket.end(upload));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

test('a download whose origin closes right after its last byte arrives whole, five times out of five', async () => {
  for (let i = 0; i < 5; i++) {
    const got = await visit(Buffer.alloc(0));
    assert.equal(got.length, payload.length, `run ${i}: ${payload.length - got.length} bytes lost`);
    assert.equal(digest(got), digest(payload));
  }
});

test('an upload half-closed by the visitor arrives whole while the download still flows', async () => {
  uploads = [];
  const upload = randomBytes(8 * 1024 * 1024);
  const got = await visit(upload);
  assert.equal(digest(got), digest(payload));
  await waitFor('the origin to have the upload', async () => uploads.length === 1);
  assert.equal(digest(uploads[0] as Buffer), digest(upload));
});
