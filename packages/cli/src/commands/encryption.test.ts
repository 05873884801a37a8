import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { agentProtocol } from '@p2pvps/protocol/version';
import type { HeartbeatBody } from '@p2pvps/protocol/agent-schemas';
import { createListedDevice, createRenter, reportContainer, runCli, tempDir, type EnrolledDevice } from '../test-harness.ts';

/** A heartbeat that also says whether the rental's encrypted storage is locked, as the agent sends it. */
function heartbeat(device: EnrolledDevice, body: Omit<HeartbeatBody, 'agentProtocol'>) {
  return device.deviceApi.call('agentHeartbeat', { body: { ...body, agentProtocol } });
}

test('rent --encrypt sends the secret to the device; after a restart the rental shows locked and unlock opens it again', async () => {
  const device = await createListedDevice({ name: 'vault-pi' });
  const renter = await createRenter();
  const secret = 'a long enough storage secret';
  const keyFile = join(await tempDir(), 'storage.key');
  await writeFile(keyFile, `${secret}\n`);
  const rented = await runCli(['rent', device.id, '--encrypt', '--key-file', keyFile, '--no-wait', '--json'], { env: renter.env });
  assert.equal(rented.code, 0, rented.stderr);
  const rental = JSON.parse(rented.stdout) as { id: string; encrypted: boolean };
  assert.equal(rental.encrypted, true);

  const first = await reportContainer(device, null);
  assert.deepEqual(first.rental?.encryption, { key: secret }, 'the key file’s secret, without its line ending');
  await heartbeat(device, { container: { rentalId: rental.id, state: 'ready' }, storageLock: { rentalId: rental.id, locked: false } });

  // The device restarted and has no key: the renter sees it locked.
  await heartbeat(device, { container: { rentalId: rental.id, state: 'starting' }, storageLock: { rentalId: rental.id, locked: true } });
  const listed = await runCli(['rentals'], { env: renter.env });
  assert.match(listed.stdout, /active \(locked\)/);

  let delivered: string | undefined;
  const unlocked = await runCli(['unlock', rental.id], {
    env: renter.env,
    stdin: `${secret}\n`,
    // The agent's next sync: it gets the secret and says the storage is open.
    whileWaiting: async () => {
      const reply = await heartbeat(device, { container: { rentalId: rental.id, state: 'starting' } });
      delivered ??= reply.rental?.encryption?.key;
      if (delivered)
        await heartbeat(device, {
          container: { rentalId: rental.id, state: 'ready' },
          storageLock: { rentalId: rental.id, locked: false },
        });
    },
  });
  assert.equal(unlocked.code, 0, unlocked.stderr);
  assert.equal(delivered, secret);
  assert.match(unlocked.stdout, /Unlocked the storage of rental .* on vault-pi; its container runs again\./);
  const after = await reportContainer(device, { rentalId: rental.id, state: 'ready' });
  assert.deepEqual(after.rental?.encryption, {}, 'the server let go of the secret');
});

test('a short storage secret is refused before anything is rented', async () => {
  const device = await createListedDevice();
  const renter = await createRenter();
  const result = await runCli(['rent', device.id, '--encrypt', '--no-wait'], { env: renter.env, stdin: 'short\n' });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /The storage secret must be at least 12 characters/);
  const { rentals } = await renter.api.call('listRentals', { query: {} });
  assert.equal(rentals.length, 0);
});
