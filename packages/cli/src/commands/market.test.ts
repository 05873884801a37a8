import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createListing, runCli } from '../test-harness.ts';

test('market turns filters into the API query: money in micros, sizes in bytes', async () => {
  const result = await runCli(
    [
      'market',
      '--sort',
      'memory',
      '--desc',
      '--max-price',
      '0.10',
      '--min-memory',
      '2G',
      '--min-disk',
      '512M',
      '--min-cores',
      '4',
      '--arch',
      'arm64',
    ],
    { routes: { 'GET /api/v1/market': () => ({ listings: [] }) } },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.requests[0]?.query, {
    sort: 'memory',
    order: 'desc',
    maxPriceMicros: '100000',
    minMemoryBytes: String(2 * 2 ** 30),
    minDiskBytes: String(512 * 2 ** 20),
    minCores: '4',
    arch: 'arm64',
  });
  assert.equal(result.stdout, 'No device matches; try fewer filters, or look again later.\n');
});

test('market shows listings as a table', async () => {
  const result = await runCli(['market'], {
    routes: {
      'GET /api/v1/market': () => ({
        listings: [
          createListing({ deviceId: 'devaaaaaa', name: 'garage-pi' }),
          createListing({
            deviceId: 'devbbbbbb',
            name: 'tiny',
            pricePerHourMicros: 1_234_567,
            hardware: { cpuModel: 'x', cores: 1, memoryBytes: 512 * 2 ** 20, diskBytes: 8 * 2 ** 30, arch: 'armv7l' },
            listedSince: null,
          }),
        ],
      }),
    },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    [
      'DEVICE     NAME            PRICE/H  CORES     MEMORY      DISK  ARCH    SERVER              LISTED',
      'devaaaaaa  garage-pi      0.07 USD      4    8.0 GiB  64.0 GiB  arm64   market.example.org  2h ago',
      'devbbbbbb  tiny       1.234567 USD      1  512.0 MiB   8.0 GiB  armv7l  market.example.org  -',
      '',
    ].join('\n'),
  );
});

test('market rejects a bad size or price as a usage error without calling the server', async () => {
  const size = await runCli(['market', '--min-memory', 'lots']);
  assert.equal(size.code, 2);
  assert.match(size.stderr, /^error \[usage\]: --min-memory: "lots" is not a size/);
  const price = await runCli(['market', '--max-price', '0.1234567']);
  assert.equal(price.code, 2);
  assert.match(price.stderr, /^error \[usage\]: --max-price: "0.1234567" has more than 6 decimals/);
  const sort = await runCli(['market', '--sort', 'name']);
  assert.equal(sort.code, 2);
  assert.equal(size.requests.length + price.requests.length + sort.requests.length, 0);
});
