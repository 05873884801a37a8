import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHardware } from './format.ts';

test('the hardware a rental gets says what its / gets beside the disk, as the device caps it', () => {
  const hardware = { cpuModel: 'Cortex-A72', cores: 1, memoryBytes: 2 ** 29, diskBytes: 2 ** 32, arch: 'arm64' };
  assert.equal(formatHardware(hardware), 'arm64, 1 core, 512.0 MiB RAM, 4.0 GiB disk');
  assert.equal(
    formatHardware({ ...hardware, systemDiskBytes: 2 ** 31 }),
    'arm64, 1 core, 512.0 MiB RAM, 4.0 GiB disk + 2.0 GiB system (/)',
  );
  assert.equal(
    formatHardware({ ...hardware, systemDiskBytes: null }),
    "arm64, 1 core, 512.0 MiB RAM, 4.0 GiB disk (/ not capped: the device's disk)",
  );
});
