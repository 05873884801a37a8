import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatVerified } from './verified.ts';

test('verified figures read as one cell, marking those short of the claim', () => {
  assert.equal(formatVerified(null), 'not yet');
  const figure = (claimed: number | null, measured: number | null, ok: boolean) => ({ claimed, measured, ok });
  const v = {
    deviceId: 'd',
    measuredAt: '2026-12-06T00:00:00.000Z',
    passed: false,
    reasons: ['…'],
    cores: figure(2, 0.97, false),
    memoryBytes: figure(24 * 2 ** 30, 256 * 2 ** 20, false),
    diskBytes: figure(2 ** 30, 2 ** 30, true),
    bandwidthMbit: figure(null, 7.7, true),
    cpuOpsPerSecPerCore: 2800,
    memoryCopyBytesPerSec: 5e9,
    diskSeqWriteBytesPerSec: 8e8,
    diskSeqReadBytesPerSec: 7e9,
    diskRandomReadIops: 12000,
    tunnelMbit: 7.7,
  };
  assert.equal(formatVerified(v), '0.97 cores!, 256.0 MiB touched!, disk 1.0 GiB, 7.7 Mbit/s');
});
