import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DomainError } from '../errors.ts';
import { createTestContext } from '../test-context.ts';
import { balanceOf, post } from './ledger.ts';
import { cancelPayout, markPayoutPaid, requestPayout, startPayout } from './payouts.ts';
import { ledgerTotal } from '../../db/ledger-repo.ts';
import { listPayouts } from '../../db/payouts-repo.ts';

const earned = 1_000_000n;

type TestContext = Awaited<ReturnType<typeof createTestContext>>;

/**
 * An owner with `earned` more in earnings (as a rental would have left them) and one payout
 * request of all of it; `books` tells how their money moved since (earnings, pending, paid out).
 */
async function requested(shared?: { t: TestContext; owner: { id: string } }) {
  const t = shared?.t ?? (await createTestContext());
  const owner = shared?.owner ?? (await t.createUser('owner', 0n));
  const balances = async () => ({
    earnings: await balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id }),
    pending: await balanceOf(t.ctx.db, { kind: 'payouts_pending', userId: owner.id }),
    paid: await balanceOf(t.ctx.db, { kind: 'rail_clearing', rail: 'paypal' }),
  });
  const before = await balances();
  await post(t.ctx.db, {
    kind: 'rental_charge',
    memo: 'earned',
    at: t.clock.now().toISOString(),
    postings: [
      { kind: 'rail_clearing', rail: 'operator', amount: -earned },
      { kind: 'owner_earnings', userId: owner.id, amount: earned },
    ],
  });
  const payout = await requestPayout(t.ctx, owner.id, earned, 'owner@paypal.example');
  const books = async () => {
    const now = await balances();
    return { earnings: now.earnings - before.earnings, pending: now.pending - before.pending, paid: now.paid - before.paid };
  };
  const state = async () => (await listPayouts(t.ctx.db, { userId: owner.id })).find((x) => x.id === payout.id)!.state;
  return { t, owner, payout, books, state };
}

const notOpen = (e: DomainError) => e.code === 'payout_not_open';

test('once the operator starts paying a payout its owner can no longer cancel it; it is paid once', async () => {
  const p = await requested();
  await assert.rejects(markPayoutPaid(p.t.ctx, p.payout.id, 'paypal', 'X1'), (e: DomainError) => {
    assert.equal(e.code, 'payout_not_open');
    assert.match(e.message, /is not started: start it first \(p2pvps admin payout-start \w+\), then pay it/);
    return true;
  });
  const started = await startPayout(p.t.ctx, p.payout.id);
  assert.equal(started.state, 'processing');
  assert.equal(started.started_at, p.t.clock.now().toISOString());
  await assert.rejects(startPayout(p.t.ctx, p.payout.id), notOpen, 'claimed once');
  await assert.rejects(cancelPayout(p.t.ctx, p.payout.id, p.owner.id), (e: DomainError) => {
    assert.equal(e.code, 'payout_not_open');
    assert.match(e.message, /is being paid by the operator and can no longer be cancelled/);
    return true;
  });
  assert.deepEqual(await p.books(), { earnings: 0n, pending: earned, paid: 0n });
  await markPayoutPaid(p.t.ctx, p.payout.id, 'paypal', 'X1');
  await assert.rejects(markPayoutPaid(p.t.ctx, p.payout.id, 'paypal', 'X1'), notOpen);
  await assert.rejects(cancelPayout(p.t.ctx, p.payout.id), notOpen, 'not even the operator cancels a paid payout');
  assert.deepEqual(await p.books(), { earnings: 0n, pending: 0n, paid: earned });
  await p.t.close();
});

test('the operator can still cancel a payout being paid (the payment failed): the amount returns to the earnings', async () => {
  const p = await requested();
  await startPayout(p.t.ctx, p.payout.id);
  assert.equal((await cancelPayout(p.t.ctx, p.payout.id)).state, 'cancelled');
  assert.deepEqual(await p.books(), { earnings: earned, pending: 0n, paid: 0n });
  await p.t.close();
});

type Step = { who: 'owner' | 'opA' | 'opB'; what: 'cancel' | 'start' | 'paid' };

/** Every order of the steps that keeps each actor's own steps in order. */
function interleavings(lanes: Step[][]): Step[][] {
  if (lanes.every((l) => l.length === 0)) return [[]];
  const out: Step[][] = [];
  lanes.forEach((lane, i) => {
    if (lane.length === 0) return;
    const rest = lanes.map((l, j) => (j === i ? l.slice(1) : l));
    for (const tail of interleavings(rest)) out.push([lane[0]!, ...tail]);
  });
  return out;
}

/**
 * The operators' side is what they do by hand: start the payout, and only if that worked send
 * the money (outside the system), then record it paid. The owner tries to cancel, twice.
 * Whatever the order, the money is sent at most once, and once it is sent the payout is
 * never cancelled back into the earnings (where it could be asked for again).
 */
async function play(shared: { t: TestContext; owner: { id: string } }, order: Step[], concurrent: boolean) {
  const p = await requested(shared);
  const claimed = new Set<string>();
  let sent = 0;
  const run = async (s: Step) => {
    if (s.who === 'owner') return cancelPayout(p.t.ctx, p.payout.id, p.owner.id).catch(() => null);
    if (s.what === 'start') {
      if (await startPayout(p.t.ctx, p.payout.id).catch(() => null)) {
        claimed.add(s.who);
        sent++; // the operator pays it now, outside
      }
      return null;
    }
    if (!claimed.has(s.who)) return null; // never started, so never paid: nothing to record
    return markPayoutPaid(p.t.ctx, p.payout.id, 'paypal', `${s.who}-ref`);
  };
  if (concurrent) {
    const lanes = (['owner', 'opA', 'opB'] as const).map((who) => order.filter((s) => s.who === who));
    await Promise.all(
      lanes.map(async (lane) => {
        for (const s of lane) await run(s);
      }),
    );
  } else for (const s of order) await run(s);
  const books = await p.books();
  const state = await p.state();
  const label = order.map((s) => `${s.who}:${s.what}`).join(' ');
  assert.ok(sent <= 1, `sent at most once: ${label}`);
  assert.equal(books.earnings + books.pending + books.paid, earned, `nothing made or lost: ${label}`);
  if (sent === 1) {
    assert.equal(state, 'paid', `sent and recorded: ${label}`);
    assert.deepEqual(books, { earnings: 0n, pending: 0n, paid: earned }, label);
  } else {
    assert.equal(state, 'cancelled', `cancelled before anyone started: ${label}`);
    assert.deepEqual(books, { earnings: earned, pending: 0n, paid: 0n }, label);
  }
  const paidTransactions = await p.t.ctx.db
    .selectFrom('ledger_transactions')
    .select('id')
    .where('kind', '=', 'payout_paid')
    .where('memo', 'like', `payout ${p.payout.id} %`)
    .execute();
  assert.ok(paidTransactions.length <= 1, label);
  assert.equal(await ledgerTotal(p.t.ctx.db), 0n);
}

test('no payout is paid twice in any interleaving of its owner cancelling and two operators paying it', async () => {
  const orders = interleavings([
    [
      { who: 'owner', what: 'cancel' },
      { who: 'owner', what: 'cancel' },
    ],
    [
      { who: 'opA', what: 'start' },
      { who: 'opA', what: 'paid' },
    ],
    [
      { who: 'opB', what: 'start' },
      { who: 'opB', what: 'paid' },
    ],
  ]);
  assert.equal(orders.length, 90);
  const t = await createTestContext();
  const shared = { t, owner: await t.createUser('owner', 0n) };
  for (const order of orders) await play(shared, order, false);
  // And the three racing for real, each one's steps in order, a few times.
  for (let i = 0; i < 10; i++) await play(shared, orders[i * 9]!, true);
  await t.close();
});
