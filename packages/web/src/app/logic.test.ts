import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  deviceStatusText,
  disputeOutcomeText,
  enrolCommands,
  feedbackChoices,
  formatBytes,
  offerForm,
  maintenanceFromForm,
  offerFromForm,
  offerText,
  systemDiskText,
  ratingSummaryText,
  reliabilityBars,
  reliabilityText,
  rentalStatusText,
  rentCostText,
  sinceText,
  starsText,
  verifiedText,
} from './logic.ts';

test('the rent dialog says what renting will cost before the renter confirms', () => {
  assert.equal(
    rentCostText(600_000, 'USD', undefined, 1),
    '0.60 USD an hour, billed per minute while the device is up, until you stop it. Your balance must cover at least 1 h (0.60 USD).',
  );
  assert.equal(
    rentCostText(600_000, 'EUR', 5, 1),
    '3.00 EUR for 5 h, held from your balance now. Unused time comes back if the device is lost; stopping early forfeits the rest of the term.',
  );
});

test("a device's status is said in words, the most important reason first", () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const base = {
    status: 'online' as const,
    listed: true,
    online: true,
    lastSeenAt: null,
    storageFault: null,
    onMarket: true,
    pricePerHourMicros: 1,
  };
  assert.equal(deviceStatusText({ ...base, status: 'awaiting_enrolment', online: false }, now), 'waiting for its agent to enrol');
  assert.equal(deviceStatusText({ ...base, storageFault: 'the wipe failed' }, now), 'not listed: the wipe failed');
  assert.equal(
    deviceStatusText({ ...base, status: 'offline', online: false, lastSeenAt: '2026-11-23T09:30:00Z' }, now),
    'offline since 2 h ago',
  );
  assert.equal(deviceStatusText({ ...base, status: 'rented', listed: false }, now), 'rented');
  assert.equal(deviceStatusText(base, now), 'online, in the marketplace');
  assert.equal(deviceStatusText({ ...base, listed: false, pricePerHourMicros: null }, now), 'online, not listed: set a price');
  assert.equal(deviceStatusText({ ...base, listed: false, onMarket: false }, now), 'online, not listed: off the market');
});

test('times are relative when recent, a date when old', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  assert.equal(sinceText('2026-11-23T11:59:30Z', now), 'just now');
  assert.equal(sinceText('2026-11-23T11:55:00Z', now), '5 min ago');
  assert.equal(sinceText('2026-11-21T12:00:00Z', now), '2 d ago');
  assert.equal(sinceText('2026-10-01T12:00:00Z', now), '2026-10-01');
});

test("a rental's live status says up or down, and why", () => {
  assert.equal(rentalStatusText({ state: 'active', endReason: null }, true), 'up');
  assert.equal(rentalStatusText({ state: 'active', endReason: null }, false), 'down: the device is offline (billing paused)');
  assert.equal(rentalStatusText({ state: 'ended', endReason: 'device_lost' }, false), 'ended (device lost)');
});

test('enrolment commands quote the URL for the shell and keep the token off the command line', () => {
  assert.equal(
    enrolCommands("https://x.example/it's"),
    "p2pvps agent init --server 'https://x.example/it'\\''s' --token-file FILE\np2pvps agent",
  );
  assert.equal(formatBytes(64 * 2 ** 20), '64 MiB');
  assert.equal(formatBytes(4 * 2 ** 30), '4 GiB');
  assert.equal(formatBytes(1.5 * 2 ** 30), '1.5 GiB');
});

test('the reliability score says "new" rather than a misleading 100 % for a device without enough history', () => {
  assert.equal(reliabilityText(null), 'new: too little history to score yet');
  assert.equal(reliabilityText(98.5), '98.5% over the last 30 days');
});

test('the 30-day chart draws a bar per day as high as its score, none for a day off the market, and names incidents', () => {
  const day = { failedStarts: 0, lostRentals: 0, expectedMs: 24 * 3_600_000, onlineMs: 18 * 3_600_000 };
  assert.deepEqual(
    reliabilityBars([
      { ...day, day: '2026-03-01', percent: 75 },
      { ...day, day: '2026-03-02', percent: null, expectedMs: 0, onlineMs: 0 },
      { ...day, day: '2026-03-03', percent: 62, lostRentals: 1, failedStarts: 1, onlineMs: 24 * 3_600_000 },
    ]),
    [
      { day: '2026-03-01', height: 75, label: '2026-03-01: 75%, online 18 h of 24 h' },
      { day: '2026-03-02', height: 0, label: '2026-03-02: not on the market' },
      { day: '2026-03-03', height: 62, label: '2026-03-03: 62%, online 24 h of 24 h, 1 failed start, 1 lost rental' },
    ],
  );
});

test('ratings read as stars and a mean with its count', () => {
  assert.equal(starsText(4), '★★★★☆');
  assert.equal(starsText(1), '★☆☆☆☆');
  assert.equal(ratingSummaryText({ count: 0, average: null }), 'no ratings yet');
  assert.equal(ratingSummaryText({ count: 1, average: 5 }), '5.0 of 5 (1 rating)');
  assert.equal(ratingSummaryText({ count: 12, average: 4.25 }), '4.3 of 5 (12 ratings)');
});

test('a renter may rate a rental that ran, cost something and ended, once; and dispute it until 14 days after its end', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const ended = {
    state: 'ended' as const,
    endReason: 'renter_stopped' as const,
    activatedAt: '2026-11-20T10:00:00Z',
    endedAt: '2026-11-20T12:00:00Z',
    costMicros: 100,
  };
  const none = { rated: false, disputed: false };
  assert.deepEqual(feedbackChoices(ended, none, now), { canRate: true, canDispute: true });
  assert.deepEqual(feedbackChoices(ended, { rated: true, disputed: true }, now), { canRate: false, canDispute: false });
  const running = { ...ended, state: 'active' as const, endReason: null, endedAt: null };
  assert.deepEqual(feedbackChoices(running, none, now), { canRate: false, canDispute: true }, 'running: dispute, not rate');
  assert.equal(feedbackChoices({ ...ended, activatedAt: null }, none, now).canRate, false, 'its container never ran');
  assert.equal(feedbackChoices({ ...ended, costMicros: 0 }, none, now).canRate, false, 'it cost nothing');
  const late = new Date(Date.parse(ended.endedAt) + 14 * 86_400_000 + 1);
  assert.equal(feedbackChoices(ended, none, late).canDispute, false, 'more than 14 days after its end');
  assert.equal(feedbackChoices(ended, none, new Date(late.getTime() - 1)).canDispute, true);
});

test("a dispute's outcome says what the renter got", () => {
  assert.equal(disputeOutcomeText({ state: 'open', refundMicros: 0, currency: 'EUR' }), 'open: the operator has not decided yet');
  assert.equal(disputeOutcomeText({ state: 'refunded', refundMicros: 45_000, currency: 'EUR' }), 'refunded 0.045 EUR to your balance');
  assert.equal(disputeOutcomeText({ state: 'rejected', refundMicros: 0, currency: 'EUR' }), 'not upheld: no refund');
});

test('verified figures read beside the claims; a flagged device says why it is not listed', () => {
  assert.equal(verifiedText(null), 'not verified yet');
  const figure = (claimed: number | null, measured: number | null, ok: boolean) => ({ claimed, measured, ok });
  const v = {
    deviceId: 'd',
    measuredAt: '2026-12-06T20:10:43.520Z',
    passed: false,
    reasons: [],
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
  assert.equal(
    verifiedText(v),
    '0.97 of 2 cores (short of the claim), 256 MiB memory used (short of the claim), 1 GiB disk, 7.7 Mbit/s through the tunnel; measured 2026-12-06',
  );
  const flagged = {
    status: 'online' as const,
    listed: false,
    online: true,
    lastSeenAt: null,
    storageFault: null,
    onMarket: true,
    pricePerHourMicros: 1,
    hardwareFlag: 'The benchmark did not bear out this device’s claims.',
  };
  assert.equal(deviceStatusText(flagged, new Date()), 'not listed: The benchmark did not bear out this device’s claims.');
});

test("what one rental gets is said in one line, and the owner's form becomes an offer or names the boxes to fix", () => {
  const offer = { cores: 1, memoryBytes: 512 * 2 ** 20, diskBytes: 4 * 2 ** 30, bandwidthMbit: 20 };
  assert.equal(offerText(offer), '1 core, 512 MiB memory, 4 GiB disk, 20 Mbit/s each way');
  assert.equal(offerText({ ...offer, cores: 2, bandwidthMbit: null }), '2 cores, 512 MiB memory, 4 GiB disk, no bandwidth cap');
  assert.deepEqual(offerForm(offer), { cores: '1', memoryMiB: '512', diskGiB: '4', bandwidthMbit: '20' });
  assert.deepEqual(offerFromForm(offerForm(offer)), offer, 'the form gives back what it showed');
  assert.deepEqual(offerFromForm({ cores: '2', memoryMiB: '1024', diskGiB: '0.5', bandwidthMbit: ' ' }), {
    cores: 2,
    memoryBytes: 2 ** 30,
    diskBytes: 512 * 2 ** 20,
    bandwidthMbit: null,
  });
  assert.throws(
    () => offerFromForm({ cores: '1.5', memoryMiB: 'lots', diskGiB: '4', bandwidthMbit: 'fast' }),
    (err: Error & { fields?: Record<string, string> }) => {
      assert.deepEqual(Object.keys(err.fields ?? {}).sort(), ['body.offer.bandwidthMbit', 'body.offer.cores', 'body.offer.memoryBytes']);
      return true;
    },
  );
});

test('the maintenance form reads its start as UTC and its length in hours, and names the boxes to fix', () => {
  assert.deepEqual(maintenanceFromForm({ startsAt: '2026-03-02T14:00', hours: '1.5' }), {
    startsAt: '2026-03-02T14:00:00.000Z',
    minutes: 90,
  });
  assert.throws(
    () => maintenanceFromForm({ startsAt: '', hours: '9' }),
    (err: { fields: Record<string, string> }) =>
      err.fields['body.startsAt'] === 'must be a date and time, like 2026-03-02 14:00' &&
      err.fields['body.minutes'] === 'must be from 0.25 to 8, like 2 or 0.5',
  );
  assert.throws(() => maintenanceFromForm({ startsAt: '2026-03-02T14:00', hours: '0.2' }), /see the boxes marked/);
});

test("a listing says what a rental's / gets beside its disk", () => {
  assert.equal(systemDiskText(2 ** 31), '2 GiB beside the disk');
  assert.equal(systemDiskText(null), "not capped: shares the device's disk");
});

test('an owner sees a rented device whose renter’s encrypted storage is locked as waiting for its renter', () => {
  const device = {
    status: 'rented' as const,
    listed: false,
    online: true,
    lastSeenAt: null,
    storageFault: null,
    onMarket: true,
    pricePerHourMicros: 1,
    hardwareFlag: null,
    storageLocked: 'The storage is locked: it waits for the renter’s key (p2pvps unlock).',
  };
  assert.equal(deviceStatusText(device, new Date()), 'rented, locked: waiting for its renter’s secret');
  assert.equal(deviceStatusText({ ...device, storageLocked: null }, new Date()), 'rented');
});
