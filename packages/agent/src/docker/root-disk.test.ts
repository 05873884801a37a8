import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rentalSystemDiskBytes } from '@p2pvps/protocol/schemas';
import { renterContainerConfig, type ContainerShape, type EngineSide } from './container-config.ts';
import { overlayOnXfs } from './root-disk.ts';

// docker info's storage part, as Docker 20.10 reports it on ext4 and on XFS.
const onExt4 = {
  Driver: 'overlay2',
  DriverStatus: [
    ['Backing Filesystem', 'extfs'],
    ['Supports d_type', 'true'],
  ],
};
const onXfs = {
  Driver: 'overlay2',
  DriverStatus: [
    ['Backing Filesystem', 'xfs'],
    ['Supports d_type', 'true'],
  ],
};

test('a size is tried only on overlay2 over XFS', () => {
  assert.equal(overlayOnXfs(onXfs), true);
  assert.equal(overlayOnXfs(onExt4), false);
  assert.equal(overlayOnXfs({ Driver: 'btrfs', DriverStatus: [['Backing Filesystem', 'xfs']] }), false);
  assert.equal(overlayOnXfs({ Driver: 'overlay2', DriverStatus: null }), false);
  assert.equal(overlayOnXfs('not an info reply'), false);
});

test("the renter's / gets the system room as its size where the engine can cap it, and no size where it cannot", () => {
  const engine = (rootDiskBytes: number | null): EngineSide => ({
    image: 'p2pvps/renter:latest',
    deviceId: 'dev1',
    network: 'bridge',
    ports: { sshPort: 20000, httpPort: 20001, httpsPort: 20002 },
    runtime: { Runtime: 'runc', CapAdd: [] },
    lxcfs: [],
    rootDiskBytes,
  });
  const shape: ContainerShape = {
    name: 'p2pvps-rental-r1',
    hostname: 'vps-r1',
    env: [],
    labels: {},
    homeDir: '/var/lib/p2pvps-agent/renter-storage/home',
    limits: { cpuset: '1', nanoCpus: 1e9, memoryBytes: 512 * 2 ** 20, pidsLimit: 256, diskBytes: null, bandwidthMbit: null },
    root: { uid: 100000, gid: 100000 },
  };
  assert.deepEqual(renterContainerConfig(engine(rentalSystemDiskBytes), shape).HostConfig?.StorageOpt, { size: '2147483648' });
  assert.equal(renterContainerConfig(engine(null), shape).HostConfig?.StorageOpt, undefined);
});
