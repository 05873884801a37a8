import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { SshKexGate } from './ssh-kex-gate.ts';

/**
 * A real ssh2 server behind a real TCP relay whose client→server direction runs through the
 * gate, as the tunnel's does; `split` delivers what the client sends one byte at a time.
 */
async function relayedServer(split = false) {
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private;
  const seen: string[] = [];
  const sshServer = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    client.on('handshake', () => seen.push('handshake'));
    client.on('authentication', (ctx) => {
      seen.push(`auth:${ctx.method}`);
      ctx.accept();
    });
    client.on('ready', () => seen.push('ready'));
    client.on('error', () => undefined);
  });
  sshServer.listen(0, '127.0.0.1');
  await once(sshServer, 'listening');
  const gates: SshKexGate[] = [];
  const relay = createServer((visitor: Socket) => {
    const upstream = connect((sshServer.address() as AddressInfo).port, '127.0.0.1');
    const gate = new SshKexGate();
    gates.push(gate);
    if (split) {
      visitor.on('data', (chunk: Buffer) => {
        for (const byte of chunk) gate.write(Buffer.from([byte]));
      });
      visitor.on('end', () => gate.end());
    } else visitor.pipe(gate);
    gate.pipe(upstream).pipe(visitor);
    visitor.on('error', () => upstream.destroy());
    upstream.on('error', () => visitor.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return {
    port: (relay.address() as AddressInfo).port,
    seen,
    gates,
    close: () => {
      relay.close();
      sshServer.close();
    },
  };
}

function sshClient(port: number): { client: ssh2.Client; ready: Promise<void> } {
  const client = new ssh2.Client();
  const ready = new Promise<void>((resolve, reject) => {
    client.on('ready', () => resolve());
    client.on('error', reject);
  });
  client.connect({ host: '127.0.0.1', port, username: 'renter', password: 'x', readyTimeout: 10_000 });
  return { client, ready };
}

for (const split of [false, true]) {
  test(`the key exchange completes through the gate, and authentication waits for open()${split ? ' (one byte at a time)' : ''}`, async () => {
    const server = await relayedServer(split);
    const { client, ready } = sshClient(server.port);
    try {
      // The server finishes its side of the key exchange: the client's NEWKEYS went through.
      await waitUntil(() => server.seen.includes('handshake'));
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(server.seen, ['handshake'], 'nothing after the key exchange reached the server');
      assert.equal(server.gates[0]!.holding, true);
      server.gates[0]!.open();
      await ready;
      assert.deepEqual(server.seen.slice(0, 1), ['handshake']);
      assert.ok(server.seen.includes('ready'), `the client logged in after open(): ${server.seen.join(', ')}`);
    } finally {
      client.end();
      server.close();
    }
  });
}

test('a stream that is not SSH is held from its first byte that does not read as SSH', async () => {
  const gate = new SshKexGate();
  const out: Buffer[] = [];
  gate.on('data', (d: Buffer) => out.push(d));
  gate.write(Buffer.from('SSH-2.0-client\r\n'));
  // A "packet" of 4 GB: not SSH.
  gate.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3]));
  await new Promise((r) => setImmediate(r));
  assert.equal(Buffer.concat(out).toString(), 'SSH-2.0-client\r\n');
  assert.equal(gate.holding, true);
  gate.open();
  await new Promise((r) => setImmediate(r));
  assert.equal(Buffer.concat(out).length, 16 + 8, 'everything goes through once opened');
});

test('an identification line longer than SSH allows is held', async () => {
  const gate = new SshKexGate();
  const out: Buffer[] = [];
  gate.on('data', (d: Buffer) => out.push(d));
  gate.write(Buffer.alloc(300, 0x41));
  await new Promise((r) => setImmediate(r));
  assert.equal(out.length, 0);
  assert.equal(gate.holding, true);
});

async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
