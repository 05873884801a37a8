import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  deviceStatusText,
  enrolCommands,
  formatBytes,
  offerForm,
  offerFromForm,
  offerText,
  rentalStatusText,
  rentCostText,
  sinceText,
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
