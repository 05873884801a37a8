import { after, before, test } from 'node:test';
import { realpathSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ApiError } from '@p2pvps/protocol/client';
import { lxcfsMounted } from '@p2pvps/agent/docker/lxcfs';
import { rootDiskCap } from '@p2pvps/agent/docker/root-disk';
import {
  createAgent,
  createServer,
  createSshKey,
  createUser,
  docker,
  openSsh,
  removeDeviceContainers,
  renterImage,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';

/**
 * What the listing says is what the renter gets: an owner offers one core, 256 MiB and a
 * 48 MiB disk on a device with more; the market and the rental say so, and inside the
 * container `nproc`, `free` and `df /home` say the same (LXCFS for /proc, which
 * scripts/setup.sh starts; a cpuset; a /home filesystem of the rented size). `df /` shows
 * the system's room (rentalSystemDiskBytes) where the engine caps a container's own layer
 * (overlay2 on XFS with project quotas, which scripts/setup.sh gives the tests' engine on a
 * kernel that has them), and root cannot write past it; elsewhere it shows the engine's disk.
 */
const MiB = 1024 * 1024;
let server: TestServer;
let agent: TestAgent | undefined;
let deviceId: string | undefined;

before(async () => {
  server = await createServer();
});

after(async () => {
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  await server?.stop();
});

test('inside a rental, nproc, free and df agree with the offer on the market, not with the device', async () => {
  assert.ok(lxcfsMounted(), 'LXCFS is mounted at /var/lib/lxcfs (source scripts/setup.sh)');
  const owner = await createUser(server, 'owner');
  const grant = await owner.api.call('addDevice', { body: { name: 'offered-pi' } });
  deviceId = grant.device.id;
  agent = await createAgent(server, grant.enrolmentToken, { storage: { kind: 'image', sizeMiB: 128 } });
  const device = await waitFor('the device to come online', async () => {
    const d = await owner.api.call('getDevice', { params: { deviceId: grant.device.id } });
    return d.online && d.hardware && d;
  });
  assert.equal(device.hardware!.diskBytes, 128 * MiB, "the disk an owner can offer is the renter storage's size");
  assert.ok(device.hardware!.memoryBytes > 1024 * MiB);

  await assert.rejects(
    owner.api.call('updateDevice', { params: { deviceId }, body: { offer: { diskBytes: 256 * MiB } } }),
    (err: ApiError) => err.code === 'invalid_request' && /renter storage/.test(err.fields?.['body.offer.diskBytes'] ?? ''),
  );
  const offer = { cores: 1, memoryBytes: 256 * MiB, diskBytes: 48 * MiB, bandwidthMbit: null };
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 10_000, onMarket: true, offer } });
  // Told of the new offer, the idle agent makes its clean storage that size before anyone rents.
  const mount = join(realpathSync(agent.dataDir), 'renter-storage');
  await waitFor('the clean storage to be the offered size', async () => {
    const fs = statfsSync(mount);
    return Number(fs.blocks) * fs.bsize === 48 * MiB;
  });

  const renter = await createUser(server, 'renter');
  const listing = await waitFor('the listing', async () => {
    const { listings } = await renter.api.call('market', { query: {} });
    return listings.find((l) => l.deviceId === deviceId);
  });
  assert.deepEqual([listing.hardware.cores, listing.hardware.memoryBytes, listing.hardware.diskBytes], [1, 256 * MiB, 48 * MiB]);
  // What / gets beside the disk: the engine's cap, or null where / shares the device's disk.
  const cap = await rootDiskCap(docker, renterImage);
  assert.equal(listing.hardware.systemDiskBytes, cap);

  const key = createSshKey();
  const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
  assert.deepEqual(
    [rental.deviceHardware?.cores, rental.deviceHardware?.memoryBytes, rental.deviceHardware?.diskBytes],
    [1, 256 * MiB, 48 * MiB],
  );
  const conn = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  const inside = await waitFor('ssh into the rental', async () => {
    const r = await openSsh(
      conn,
      "nproc; free -b | awk '/^Mem:/ {print $2}'; grep -c ^processor /proc/cpuinfo; df -B1 --output=size /home | tail -1",
    );
    return r.code === 0 && r;
  });
  const [nproc, memTotal, cpuinfo, homeSize] = inside.stdout
    .trim()
    .split('\n')
    .map((l) => Number(l.trim()));
  assert.equal(nproc, 1, 'nproc: the rented core');
  assert.equal(memTotal, 256 * MiB, "free: the rented memory, not the device's");
  assert.equal(cpuinfo, 1, '/proc/cpuinfo: one processor');
  assert.equal(homeSize, 48 * MiB, 'df /home: the rented disk');

  const { DockerRootDir } = (await docker.info()) as { DockerRootDir: string };
  const engineDisk = () => statfsSync(DockerRootDir);
  const rootSize = Number((await openSsh(conn, 'df -B1 --output=size / | tail -1')).stdout.trim());
  if (cap !== null) {
    assert.equal(rootSize, cap, 'df /: the system room the agent caps / at');
    const free = Number(engineDisk().bfree);
    const fill = await openSsh(conn, `sudo -n fallocate -l ${cap + 64 * MiB} /opt/fill`);
    assert.notEqual(fill.code, 0);
    assert.match(fill.stderr, /No space left on device/);
    assert.ok(Math.abs(Number(engineDisk().bfree) - free) * engineDisk().bsize < 16 * MiB, "the device's disk is untouched");
  } else {
    // The engine cannot cap it (this kernel has no XFS quotas): / is the engine's disk, as the agent tells the owner.
    assert.equal(rootSize, Number(engineDisk().blocks) * engineDisk().bsize, "df /: the engine's disk");
  }

  await renter.api.call('stopRental', { params: { rentalId: rental.id } });
  await waitFor('the device to be listed again', async () => {
    const { listings } = await renter.api.call('market', { query: {} });
    return listings.some((l) => l.deviceId === deviceId);
  });
});
