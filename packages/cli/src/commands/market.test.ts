import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hardware, Offer } from '@p2pvps/protocol/schemas';
import { clock, createListedDevice, createOwner, runCli } from '../test-harness.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** A device with more than any offer below: the market must show the offer, never these totals. */
const hw = (overrides: Partial<Hardware> = {}): Hardware => ({
  cpuModel: 'Cortex-A76',
  cores: 8,
  memoryBytes: 16 * GiB,
  diskBytes: 128 * GiB,
  arch: 'arm64',
  ...overrides,
});
const offer = (overrides: Partial<Offer>): Partial<Offer> => ({ cores: 4, memoryBytes: 8 * GiB, diskBytes: 64 * GiB, ...overrides });

test("market filters by the offer's price, memory, disk and cores and the arch, money in micros and sizes in binary units", async () => {
  const owner = await createOwner();
  const listed = (name: string, pricePerHourMicros: number, o: Partial<Offer>, hardware = hw()) =>
    createListedDevice({ owner, name, pricePerHourMicros, hardware, offer: offer(o) });
  // One after another: an owner may have only five devices awaiting enrolment at once.
  const devices = [];
  for (const [name, price, o, hardware] of [
    ['big', 50_000, { memoryBytes: 8 * GiB }],
    ['at-the-limits', 100_000, { memoryBytes: 2 * GiB, diskBytes: 512 * MiB }],
    ['too-dear', 100_001, {}],
    ['byte-short-on-memory', 10_000, { memoryBytes: 2 * GiB - 1 }],
    ['byte-short-on-disk', 10_000, { diskBytes: 512 * MiB - 1 }],
    ['two-cores', 10_000, { cores: 2 }],
    ['intel', 10_000, {}, hw({ arch: 'x86_64' })],
  ] as const)
    devices.push(await listed(name, price, o, hardware));
  const [big, limits] = devices;
  const result = await runCli([
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
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    [
      'DEVICE            NAME            PRICE/H  CORES   MEMORY       DISK  BANDWIDTH  VERIFIED  ARCH   SERVER       LISTED    RELIABILITY  RATING',
      `${big?.id}  big            0.05 EUR      4  8.0 GiB   64.0 GiB  -          not yet   arm64  test-market  just now          new       -`,
      `${limits?.id}  at-the-limits  0.10 EUR      4  2.0 GiB  512.0 MiB  -          not yet   arm64  test-market  just now          new       -`,
      '',
    ].join('\n'),
  );
  const all = await runCli(['market']);
  assert.equal(all.stdout.trimEnd().split('\n').length, 1 + devices.length, 'without filters every device is listed');
});

test('market shows listings as a table, cheapest first, with what one rental gets', async () => {
  const owner = await createOwner();
  const tiny = await createListedDevice({
    owner,
    name: 'tiny',
    pricePerHourMicros: 1_234_567,
    hardware: hw({ cores: 1, memoryBytes: 1 * GiB, diskBytes: 8 * GiB, arch: 'armv7l' }),
    offer: { cores: 1, memoryBytes: 512 * MiB, diskBytes: 8 * GiB, bandwidthMbit: 20 },
  });
  clock.advance(2 * 3600_000);
  const garage = await createListedDevice({ owner, name: 'garage-pi', pricePerHourMicros: 70_000, hardware: hw(), offer: offer({}) });
  clock.advance(5 * 60_000);
  const result = await runCli(['market']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    [
      'DEVICE            NAME            PRICE/H  CORES     MEMORY      DISK  BANDWIDTH  VERIFIED  ARCH    SERVER       LISTED     RELIABILITY  RATING',
      `${garage.id}  garage-pi      0.07 EUR      4    8.0 GiB  64.0 GiB  -          not yet   arm64   test-market  5m ago             new       -`,
      `${tiny.id}  tiny       1.234567 EUR      1  512.0 MiB   8.0 GiB  20 Mbit/s  not yet   armv7l  test-market  2h 5m ago          new       -`,
      '',
    ].join('\n'),
  );
});

test('market says so when nothing matches', async () => {
  await createListedDevice({ pricePerHourMicros: 50_000 });
  const result = await runCli(['market', '--max-price', '0.049999']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'No device matches; try fewer filters, or look again later.\n');
});

test('market rejects a bad size, price or sort key as a usage error without calling the server', async () => {
  const size = await runCli(['market', '--min-memory', 'lots'], { offline: true });
  assert.equal(size.code, 2);
  assert.match(size.stderr, /^error \[usage\]: --min-memory: "lots" is not a size/);
  const price = await runCli(['market', '--max-price', '0.1234567'], { offline: true });
  assert.equal(price.code, 2);
  assert.match(price.stderr, /^error \[usage\]: --max-price: "0.1234567" has more than 6 decimals/);
  const sort = await runCli(['market', '--sort', 'name'], { offline: true });
  assert.equal(sort.code, 2);
  assert.match(sort.stderr, /^error \[usage\]: --sort must be one of price, memory, cores, disk, reliability, not "name"/);
});
