import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpusetOf, rentalLimits } from './rental-offer.ts';

const MiB = 1024 * 1024;
const configured = { cpus: 1.5, memoryMb: 512, pidsLimit: 256 };

test('the container gets what was rented: whole cores as a cpuset and CPU time, memory, disk, bandwidth', () => {
  const offer = { cores: 2, memoryBytes: 1024 * MiB, diskBytes: 4096 * MiB, bandwidthMbit: 20 };
  assert.deepEqual(rentalLimits(offer, configured, 4), {
    cpuset: '2-3',
    nanoCpus: 2e9,
    memoryBytes: 1024 * MiB,
    pidsLimit: 256,
    diskBytes: 4096 * MiB,
    bandwidthMbit: 20,
  });
});

test('a server that sends no offer leaves the agent to its configured limits and the whole storage', () => {
  assert.deepEqual(rentalLimits(undefined, configured, 4), {
    cpuset: '2-3',
    nanoCpus: 1.5e9,
    memoryBytes: 512 * MiB,
    pidsLimit: 256,
    diskBytes: null,
    bandwidthMbit: null,
  });
});

test('cpusets are the last CPUs, never more than the host has', () => {
  assert.equal(cpusetOf(1, 4), '3');
  assert.equal(cpusetOf(4, 4), '0-3');
  assert.equal(cpusetOf(8, 2), '0-1');
  assert.equal(rentalLimits({ cores: 8, memoryBytes: 64 * MiB, diskBytes: 16 * MiB, bandwidthMbit: null }, configured, 2).nanoCpus, 2e9);
});
