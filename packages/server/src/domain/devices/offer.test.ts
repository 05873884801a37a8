import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors.ts';
import { createTestContext } from '../test-context.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { getRental, market, rent } from '../rentals/rentals.ts';
import { getDevice, updateDevice } from './devices.ts';
import { defaultOffer, hostMemoryReserve } from './offer.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const page = { sort: 'price', order: 'asc', limit: 100 } as const;

// The test device: 4 cores, 4 GiB memory, 32 GiB of renter storage (domain/test-context.ts).

test("the market, rent, the rental and the agent get the owner's offer, never the device's totals", async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId } = await t.createMarket();
  const offer = { cores: 1, memoryBytes: 1 * GiB, diskBytes: 4 * GiB, bandwidthMbit: 20 };
  const device = await updateDevice(t.ctx, owner.id, deviceId, { offer });
  assert.deepEqual(t.nudges.at(-1), { deviceId, reason: 'offer_changed' }, 'the agent hears of it at once');
  assert.deepEqual(device.offer, offer);
  assert.equal(device.offerIsDefault, false);
  assert.equal(device.hardware?.cores, 4, 'the owner still sees the device hardware');

  const [listing] = (await market(t.ctx, page)).items;
  assert.deepEqual(
    { cores: listing!.hardware.cores, memoryBytes: listing!.hardware.memoryBytes, diskBytes: listing!.hardware.diskBytes },
    { cores: 1, memoryBytes: 1 * GiB, diskBytes: 4 * GiB },
  );
  assert.equal(listing!.bandwidthMbit, 20);
  assert.equal(listing!.hardware.cpuModel, 'Cortex-A72', "the CPU model and architecture are the device's");
  assert.equal((await market(t.ctx, { ...page, minCores: 2 })).items.length, 0, 'filters go by the offer');
  assert.equal((await market(t.ctx, { ...page, minMemoryBytes: 2 * GiB })).items.length, 0);

  const rented = await rent(t.ctx, renter.id, { deviceId });
  assert.equal(rented.deviceHardware?.cores, 1);
  assert.equal(rented.deviceHardware?.memoryBytes, 1 * GiB);
  assert.equal(rented.deviceHardware?.diskBytes, 4 * GiB);
  assert.equal(rented.bandwidthMbit, 20);
  const reply = await syncDevice(t.ctx, deviceId, { container: null });
  assert.deepEqual(reply.rental?.offer, offer, 'the heartbeat reply tells the agent what the container gets');
  assert.deepEqual(reply.offer, offer, 'and what the next rental gets, for an idle agent to size its storage');

  // A new offer is for the next rental: the running one keeps what it was rented with.
  await updateDevice(t.ctx, owner.id, deviceId, { offer: { cores: 2 } });
  assert.equal((await getRental(t.ctx, renter.id, rented.id)).deviceHardware?.cores, 1);
  assert.equal((await syncDevice(t.ctx, deviceId, { container: null })).rental?.offer?.cores, 1);
  await t.close();
});

test("an offer beyond the device's hardware is refused, every problem at once, and changes nothing", async () => {
  const t = await createTestContext();
  const { owner, deviceId } = await t.createMarket();
  const before = await getDevice(t.ctx, owner.id, deviceId);
  await assert.rejects(
    updateDevice(t.ctx, owner.id, deviceId, { offer: { cores: 5, memoryBytes: 4 * GiB, diskBytes: 33 * GiB }, pricePerHourMicros: 1 }),
    (e: DomainError) => {
      assert.equal(e.code, 'invalid_request');
      assert.match(e.fields!['body.offer.cores']!, /at most 4: the device has 4 cores/);
      // 4 GiB less its reserve (an eighth, at least 256 MiB: 512 MiB here) for the host.
      assert.match(e.fields!['body.offer.memoryBytes']!, /at most 3\.5 GiB: the device has 4\.0 GiB and keeps 512 MiB/);
      assert.match(e.fields!['body.offer.diskBytes']!, /at most 32\.0 GiB: that is the size of the device's renter storage/);
      return true;
    },
  );
  assert.deepEqual(await getDevice(t.ctx, owner.id, deviceId), before, 'neither the offer nor the price changed');
  // Up to the limits is fine.
  const max = await updateDevice(t.ctx, owner.id, deviceId, { offer: { cores: 4, memoryBytes: 4 * GiB - 512 * MiB, diskBytes: 32 * GiB } });
  assert.equal(max.offer?.cores, 4);
  await t.close();
});

test("a device without an offer of its owner's gets the default: one core, 512 MiB, the whole renter storage, no cap", async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId } = await t.createMarket();
  const device = await getDevice(t.ctx, owner.id, deviceId);
  assert.equal(device.offerIsDefault, true);
  assert.deepEqual(device.offer, { cores: 1, memoryBytes: 512 * MiB, diskBytes: 32 * GiB, bandwidthMbit: null });
  const rented = await rent(t.ctx, renter.id, { deviceId });
  assert.equal(rented.deviceHardware?.memoryBytes, 512 * MiB);
  // Going back to the default.
  await updateDevice(t.ctx, owner.id, deviceId, { offer: { cores: 3 } });
  assert.equal((await updateDevice(t.ctx, owner.id, deviceId, { offer: null })).offerIsDefault, true);
  // A small device keeps its reserve even by default.
  const pi = { cpuModel: 'Cortex-A53', cores: 4, memoryBytes: 512 * MiB, diskBytes: GiB, arch: 'armhf' };
  assert.equal(hostMemoryReserve(pi), 256 * MiB);
  assert.equal(defaultOffer(pi).memoryBytes, 256 * MiB);
  await t.close();
});
