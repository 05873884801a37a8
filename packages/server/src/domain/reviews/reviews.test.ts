import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors.ts';
import { createTestContext } from '../test-context.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { market, rent, stopRental } from '../rentals/rentals.ts';
import { openDispute, resolveDispute } from './disputes.ts';
import { answerReview, deviceReviews, rateRental } from './reviews.ts';

const minute = 60_000;
const code = (c: string) => (e: unknown) => e instanceof DomainError && e.code === c;

/** A rental that ran `minutes` (billed at 0.01 USD an hour) and was stopped; `wiped` also lets the agent report the wipe. */
async function endedRental(t: Awaited<ReturnType<typeof createTestContext>>, minutes = 60, wiped = true) {
  const running = await t.createRunningRental();
  t.clock.advance(minutes * minute);
  await stopRental(t.ctx, running.renter.id, running.rental.id);
  if (wiped) await syncDevice(t.ctx, running.deviceId, { container: null });
  return running;
}

test('a renter rates a rental once after it ends, and the listing shows the count and mean', async () => {
  const t = await createTestContext();
  const { renter, deviceId, rental } = await endedRental(t);
  const review = await rateRental(t.ctx, renter.id, rental.id, { stars: 4, comment: 'Quick and quiet.' });
  assert.equal(review.stars, 4);
  assert.equal(review.comment, 'Quick and quiet.');
  assert.equal(review.refunded, null);
  await assert.rejects(rateRental(t.ctx, renter.id, rental.id, { stars: 1, comment: 'changed my mind' }), code('already_rated'));

  // A second renter of the same device rates it 2: the mean is 3.
  const other = await t.createUser('renter');
  const second = await rent(t.ctx, other.id, { deviceId });
  await syncDevice(t.ctx, deviceId, { container: { rentalId: second.id, state: 'ready' } });
  t.clock.advance(10 * minute);
  await stopRental(t.ctx, other.id, second.id);
  await rateRental(t.ctx, other.id, second.id, { stars: 2, comment: '' });
  await syncDevice(t.ctx, deviceId, { container: null });

  const [listing] = (await market(t.ctx, { sort: 'price', order: 'asc', limit: 10 })).items;
  assert.deepEqual(listing?.rating, { count: 2, average: 3 });
  const page = await deviceReviews(t.ctx, deviceId, 20);
  assert.deepEqual(page.rating, { count: 2, average: 3 });
  assert.deepEqual(
    page.reviews.map((r) => [r.stars, r.comment]),
    [
      [2, ''],
      [4, 'Quick and quiet.'],
    ],
    'newest first',
  );
  await t.close();
});

test('a rating that is still ending counts as ended: the renter is done with it', async () => {
  const t = await createTestContext();
  const { renter, rental } = await endedRental(t, 30, false);
  assert.equal((await rateRental(t.ctx, renter.id, rental.id, { stars: 5, comment: '' })).stars, 5);
  await t.close();
});

test('only the renter of that rental rates it, only after it ended, and only if it ran and was paid for', async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId, rental } = await t.createRunningRental();
  t.clock.advance(30 * minute);
  await assert.rejects(rateRental(t.ctx, renter.id, rental.id, { stars: 5, comment: '' }), code('rental_not_ended'));
  await stopRental(t.ctx, renter.id, rental.id);
  const stranger = await t.createUser('renter');
  await assert.rejects(rateRental(t.ctx, stranger.id, rental.id, { stars: 1, comment: '' }), code('not_found'));
  await assert.rejects(rateRental(t.ctx, owner.id, rental.id, { stars: 5, comment: '' }), code('not_found'), 'not even the device owner');
  await syncDevice(t.ctx, deviceId, { container: null });

  // Rented and stopped before the container started: nothing ran, nothing was paid.
  const unstarted = await rent(t.ctx, stranger.id, { deviceId });
  await stopRental(t.ctx, stranger.id, unstarted.id);
  await assert.rejects(rateRental(t.ctx, stranger.id, unstarted.id, { stars: 1, comment: '' }), code('rental_not_rateable'));
  await syncDevice(t.ctx, deviceId, { container: null });

  // Started, but stopped within the first minute: not charged, so not rateable either.
  const brief = await rent(t.ctx, stranger.id, { deviceId });
  await syncDevice(t.ctx, deviceId, { container: { rentalId: brief.id, state: 'ready' } });
  t.clock.advance(30_000);
  await stopRental(t.ctx, stranger.id, brief.id);
  await assert.rejects(rateRental(t.ctx, stranger.id, brief.id, { stars: 1, comment: '' }), (e: unknown) => {
    return code('rental_not_rateable')(e) && /not charged anything/.test((e as Error).message);
  });
  await t.close();
});

test('the owner of the device answers a rating once; nobody else can', async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId, rental } = await endedRental(t);
  const review = await rateRental(t.ctx, renter.id, rental.id, { stars: 2, comment: 'It went offline twice.' });
  await assert.rejects(answerReview(t.ctx, renter.id, review.id, 'I agree'), code('not_found'), 'the renter is not the owner');
  const otherOwner = await t.createUser('owner');
  await t.createListedDevice(otherOwner.id);
  await assert.rejects(answerReview(t.ctx, otherOwner.id, review.id, 'Not mine'), code('not_found'));

  t.clock.advance(minute);
  const answered = await answerReview(t.ctx, owner.id, review.id, 'A power cut; it has a UPS now.');
  assert.equal(answered.answer, 'A power cut; it has a UPS now.');
  assert.equal(answered.answeredAt, t.clock.now().toISOString());
  await assert.rejects(answerReview(t.ctx, owner.id, review.id, 'And another thing'), code('already_answered'));
  const [shown] = (await deviceReviews(t.ctx, deviceId, 20)).reviews;
  assert.equal(shown?.answer, 'A power cut; it has a UPS now.', 'the listing shows the answer beside the rating');
  await t.close();
});

test('a rental refunded in full keeps its rating, counted and marked refunded', async () => {
  const t = await createTestContext();
  const { renter, deviceId, rental } = await endedRental(t);
  await rateRental(t.ctx, renter.id, rental.id, { stars: 1, comment: 'Never reachable.' });
  const dispute = await openDispute(t.ctx, renter.id, rental.id, 'I could not log in at all.');
  await resolveDispute(t.ctx, dispute.id, { outcome: 'refund', refundMicros: 10_000, note: '' });
  const page = await deviceReviews(t.ctx, deviceId, 20);
  assert.deepEqual(page.rating, { count: 1, average: 1 });
  assert.equal(page.reviews[0]?.refunded, 'full');
  await t.close();
});
