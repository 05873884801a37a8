import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TunnelClient } from '@p2pvps/agent/tunnel-client';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { TunnelGateway } from '@p2pvps/server/gateway/tunnel-gateway';
import { portBlock, waitFor } from './harness.ts';

/**
 * The agent pins the gateway host key it got at registration: a gateway with any other key
 * (an impostor on the way, or a server whose key changed) never gets the device's login,
 * and the owner reads why in the agent's log.
 */
test('a gateway with another host key than the pinned one is never logged in to', async () => {
  const pinned = generateEd25519KeyPair('gateway');
  const impostorKey = generateEd25519KeyPair('impostor');
  const device = generateEd25519KeyPair('device');
  const lookups: string[] = [];
  const impostor = new TunnelGateway({
    hostKey: impostorKey.private,
    publicBindHost: '127.0.0.1',
    lookupDevice: async (id) => {
      lookups.push(id);
      return { deviceId: id, publicKey: device.public, sshPort: portBlock(1) };
    },
  });
  const port = await impostor.listen(0, '127.0.0.1');
  const log: string[] = [];
  const client = new TunnelClient({
    registration: { deviceId: 'device1', sshPort: 20000, gateway: { host: '127.0.0.1', port, hostKey: pinned.public } },
    privateKey: device.private,
    localPort: 1,
    log: (level, msg) => log.push(`${level} ${msg}`),
  });
  client.start();
  try {
    await waitFor('the refusal in the log', async () => log.find((l) => l.startsWith('error ')));
    assert.equal(
      log.find((l) => l.startsWith('error ')),
      `error the gateway at 127.0.0.1:${port} shows a host key other than the one pinned at registration; not connecting (if the server's key really changed, enrol this device again)`,
    );
    assert.equal(client.up, false);
    assert.deepEqual(lookups, [], 'the impostor never saw a login attempt');
    assert.equal(impostor.isOnline('device1'), false);
  } finally {
    client.close();
    await impostor.close();
  }
});
