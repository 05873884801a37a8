import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocateDepositAddress, DbBlockCursor, DbDepositDirectory, listDepositAddresses } from '../db/rails-repo.ts';
import { balanceOf } from '../domain/money/ledger.ts';
import { createTestContext } from '../domain/test-context.ts';
import { ledgerDepositSink, ledgerReversalSink, UnknownDepositor } from './deposit-sink.ts';
import type { DepositEvent, ReversalEvent } from './rail.ts';
import { driftedAccounts, ledgerTotal } from '../db/ledger-repo.ts';

test('a deposit event credits the renter from the rail’s clearing account, once however often it arrives', async (t) => {
  const { ctx, createUser, close } = await createTestContext();
  t.after(close);
  const renter = await createUser('renter', 0n);
  const sink = ledgerDepositSink(ctx.db);
  const event: DepositEvent = {
    rail: 'bitcoin',
    eventId: 'abc:0',
    userId: renter.id,
    amountMicros: 65_000_000n,
    reference: '0.001 BTC, tx abc',
    occurredAt: '2026-11-23T10:00:00.000Z',
  };
  assert.deepEqual(await Promise.all([sink(event), sink(event), sink({ ...event })]).then((r) => r.sort()), [false, false, true]);
  assert.equal(await sink({ ...event, eventId: 'abc:1', amountMicros: 1n }), true);
  // The same event ID on another rail is another payment.
  assert.equal(await sink({ ...event, rail: 'ethereum' }), true);
  assert.equal(await balanceOf(ctx.db, { kind: 'renter_balance', userId: renter.id }), 130_000_001n);
  assert.equal(await balanceOf(ctx.db, { kind: 'rail_clearing', rail: 'bitcoin' }), -65_000_001n);
  assert.equal(await ledgerTotal(ctx.db), 0n);
  assert.deepEqual(await driftedAccounts(ctx.db), []);

  await assert.rejects(sink({ ...event, eventId: 'x', userId: 'nosuchuser1' }), UnknownDepositor);
  await assert.rejects(sink({ ...event, eventId: 'y', amountMicros: 0n }), RangeError);
});

test('deposit addresses: one per renter and rail, distinct indexes even when allocated at once, kept with the cursor', async (t) => {
  const { ctx, createUser, close } = await createTestContext();
  t.after(close);
  const users = await Promise.all(Array.from({ length: 12 }, () => createUser('renter', 0n)));
  const derive = (i: number) => `addr${i}`;
  const at = '2026-11-23T10:00:00.000Z';
  // Every renter asks at once, the first one three times over.
  const rows = await Promise.all([users[0]!, users[0]!, ...users].map((u) => allocateDepositAddress(ctx.db, 'bitcoin', u.id, derive, at)));
  assert.deepEqual(rows[0], rows[1]);
  assert.deepEqual(rows[0], rows[2]);
  const indexes = rows.slice(2).map((r) => r.derivationIndex);
  assert.deepEqual(
    [...indexes].sort((a, b) => a - b),
    Array.from({ length: 12 }, (_, i) => i),
  );
  for (const row of rows) assert.equal(row.address, derive(row.derivationIndex));
  assert.equal((await listDepositAddresses(ctx.db, 'bitcoin')).length, 12);
  // Another rail counts its own indexes.
  assert.equal((await allocateDepositAddress(ctx.db, 'ethereum', users[3]!.id, (i) => `0xeth${i}`, at)).derivationIndex, 0);

  const directory = new DbDepositDirectory(ctx.db, 'ethereum');
  assert.deepEqual(await directory.owners(['0xETH0', '0xeth1', 'addr0']), new Map([['0xeth0', users[3]!.id]]));

  const cursor = new DbBlockCursor(ctx.db, 'ethereum', () => new Date());
  assert.equal(await cursor.load(), null);
  await cursor.save(19_000_000n);
  await cursor.save(19_000_050n);
  assert.equal(await cursor.load(), 19_000_050n);
  assert.deepEqual(await cursor.loadTrail(), { blocks: [] });
  const trail = { blocks: [{ number: '19000051', hash: '0xabc', events: [] }] };
  await cursor.save(19_000_051n, trail);
  assert.deepEqual(await cursor.loadTrail(), trail, 'the block hashes are kept with the position');
  await cursor.save(19_000_000n);
  assert.deepEqual(await cursor.loadTrail(), { blocks: [] }, 'setting the cursor back by hand clears them');
  assert.equal(await new DbBlockCursor(ctx.db, 'bitcoin', () => new Date()).load(), null);
});

test('a reversal takes a credited deposit back once, never below zero (the marketplace bears what was spent), and nothing for a deposit never credited', async (t) => {
  const { ctx, createUser, close } = await createTestContext();
  t.after(close);
  const renter = await createUser('renter', 0n);
  const credit = ledgerDepositSink(ctx.db);
  const reverse = ledgerReversalSink(ctx.db);
  const at = '2026-12-06T10:00:00.000Z';
  await credit({
    rail: 'paypal',
    eventId: 'CAP1',
    userId: renter.id,
    amountMicros: 10_000_000n,
    reference: 'PayPal capture CAP1',
    occurredAt: at,
  });
  const chargeback: ReversalEvent = {
    rail: 'paypal',
    eventId: 'reversal:CAP1',
    reverses: 'CAP1',
    userId: renter.id,
    amountMicros: 10_000_000n,
    reference: 'PayPal chargeback of capture CAP1',
    occurredAt: at,
  };
  const refund = { ...chargeback, eventId: 'refund:R1', amountMicros: 4_000_000n, reference: 'PayPal refund R1 of capture CAP1' };
  assert.equal(await reverse(refund), 'reversed');
  assert.deepEqual((await Promise.all([reverse(chargeback), reverse(chargeback)])).sort(), ['already_reversed', 'reversed']);
  assert.equal(await reverse(refund), 'already_reversed');
  assert.equal(await balanceOf(ctx.db, { kind: 'renter_balance', userId: renter.id }), 0n, 'the 6 left, not below zero');
  assert.equal(await balanceOf(ctx.db, { kind: 'marketplace_fees' }), -4_000_000n, 'the marketplace bears the 4 refunded twice over');
  assert.equal(await balanceOf(ctx.db, { kind: 'rail_clearing', rail: 'paypal' }), 4_000_000n);
  assert.equal(await reverse({ ...chargeback, eventId: 'denial:CAP2', reverses: 'CAP2' }), 'not_credited');
  assert.equal(await ledgerTotal(ctx.db), 0n);
  assert.deepEqual(await driftedAccounts(ctx.db), []);
});
