/**
 * Measures how long a device is off the market between rentals: from `stopRental`
 * returning to the device being listed again, which includes destroying the container
 * and wiping the renter storage. Each rental first writes DATA_MIB of files, so the wipe
 * has something to erase. Two storages: the default image file, and a loop device (made
 * here, standing in for a USB drive). Prints each time and the median of N (default 5).
 *
 *   node --import tsx bench/relist.ts [N] [SIZE_MIB] [DATA_MIB] [discard|overwrite]
 *
 * Needs root (loop devices, mount), the Docker engine and the renter image (scripts/setup.sh),
 * and P2PVPS_CONTAINER_NETWORK=host on an engine without a bridge.
 */
import { performance } from 'node:perf_hooks';
import { createLoopDevice, storageTestsPossible } from '../packages/agent/src/storage/test-support.ts';
import {
  createAgent,
  createServer,
  createSshKey,
  createUser,
  openSsh,
  removeDeviceContainers,
  waitFor,
  type TestServer,
} from '../e2e/harness.ts';

const runs = Number(process.argv[2] ?? 5);
const sizeMiB = Number(process.argv[3] ?? 1024);
const dataMiB = Number(process.argv[4] ?? 16);
const wipe = (process.argv[5] ?? 'discard') as 'discard' | 'overwrite';

const cannot = storageTestsPossible();
if (cannot) {
  console.error(`bench/relist.ts ${cannot}`);
  process.exit(2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function measure(server: TestServer, label: string, storage: object): Promise<number[]> {
  const owner = await createUser(server, 'owner');
  const grant = await owner.api.call('addDevice', { body: { name: `bench-${label}` } });
  const deviceId = grant.device.id;
  const listed = async () => (await server.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId);
  await createAgent(server, grant.enrolmentToken, { storage, wipe });
  try {
    await waitFor('online', async () => (await owner.api.call('getDevice', { params: { deviceId } })).online, 120_000);
    await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 1000, onMarket: true } });
    const key = createSshKey();
    const renter = await createUser(server, 'renter');
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      await waitFor('listed', listed, 120_000);
      const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
      const ssh = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
      await waitFor('ssh', async () => (await openSsh(ssh, 'true')).code === 0, 60_000);
      const wrote = await openSsh(ssh, `head -c ${dataMiB}M /dev/urandom > ~/data && sync`, 120_000);
      if (wrote.code !== 0) throw new Error(`writing the renter's data failed: ${wrote.stderr}`);
      await renter.api.call('stopRental', { params: { rentalId: rental.id } });
      const t0 = performance.now();
      await waitFor('listed again', listed, 600_000, 10);
      const ms = performance.now() - t0;
      times.push(ms);
      console.log(`${label} run ${i + 1}: ${ms.toFixed(0)} ms`);
    }
    return times;
  } finally {
    await removeDeviceContainers(deviceId);
  }
}

const server = await createServer();
const usb = createLoopDevice(sizeMiB);
try {
  const image = await measure(server, 'image file', { kind: 'image', sizeMiB });
  const block = await measure(server, 'loop block device', { kind: 'block', device: usb.path, allowFormat: true });
  console.log(`\nrental end → listed again (median of ${runs}; ${sizeMiB} MiB storage, ${dataMiB} MiB written per rental, wipe=${wipe}):`);
  console.log(
    `  image file:        ${median(image).toFixed(0)} ms (best ${Math.min(...image).toFixed(0)}, worst ${Math.max(...image).toFixed(0)})`,
  );
  console.log(
    `  loop block device: ${median(block).toFixed(0)} ms (best ${Math.min(...block).toFixed(0)}, worst ${Math.max(...block).toFixed(0)})`,
  );
} finally {
  usb.detach();
  await server.stop();
}
