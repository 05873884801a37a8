import type { DeviceReviews, Review } from '@p2pvps/protocol/review-schemas';
import type { RatingSummary } from '@p2pvps/protocol/schemas';
import { isUniqueViolation } from '../../db/database.ts';
import { findDevice } from '../../db/devices-repo.ts';
import { findRental } from '../../db/rentals-repo.ts';
import {
  findReview,
  findReviewOfRental,
  findReviewWithRefund,
  insertReview,
  listDeviceReviews,
  ratingTotals,
  setAnswer,
  type ReviewRow,
  type ReviewWithRefund,
} from '../../db/reviews-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { newId } from '../secrets.ts';

/**
 * Ratings. A renter rates a rental of theirs once, after it has ended; the device's owner
 * answers each rating once; the listing shows the count and mean, and the newest with their
 * answers.
 *
 * Only real renters rate: the rental must be theirs (owners cannot rent their own devices),
 * its container must have run, and it must have been charged something. So a rating costs
 * at least one paid minute, of which the marketplace keeps its fee: rating a device by
 * renting it and stopping before the container starts, over and over, costs nothing and is
 * refused. A rental the operator refunded in full after a dispute keeps its rating, counted,
 * and marked refunded: the refund is the operator's finding that the device failed that
 * renter, which is what the next renter wants to know, and no renter can grant it to
 * themselves, so it is no way to rate for free.
 */

export function presentReview(row: ReviewRow & Partial<Pick<ReviewWithRefund, 'refund_micros' | 'charged_micros'>>): Review {
  const refund = BigInt(row.refund_micros ?? 0);
  return {
    id: row.id,
    rentalId: row.rental_id,
    deviceId: row.device_id,
    stars: row.stars,
    comment: row.comment,
    createdAt: row.created_at,
    answer: row.answer,
    answeredAt: row.answered_at,
    refunded: refund <= 0n ? null : refund >= BigInt(row.charged_micros ?? 0) ? 'full' : 'partial',
  };
}

export function summarize(totals: { count: number; stars: number } | undefined): RatingSummary {
  if (!totals || totals.count === 0) return { count: 0, average: null };
  return { count: totals.count, average: Math.round((totals.stars / totals.count) * 10) / 10 };
}

export async function rateRental(
  ctx: DomainContext,
  renterId: string,
  rentalId: string,
  input: { stars: number; comment: string },
): Promise<Review> {
  const rental = await findRental(ctx.db, rentalId);
  if (!rental || rental.renter_id !== renterId) throw new DomainError('not_found');
  // Ending or ended: the renter's time on it is over (an ending rental waits only for the device's wipe).
  if (rental.end_reason === null) throw new DomainError('rental_not_ended');
  if (rental.activated_at === null || BigInt(rental.charged_micros) <= 0n) {
    throw new DomainError(
      'rental_not_rateable',
      rental.activated_at === null
        ? 'This rental’s container never ran, so there is nothing to rate; only a rental that ran and was paid for can be rated.'
        : 'This rental was not charged anything (it ran less than a billed minute); only a rental that was paid for can be rated.',
    );
  }
  const row: ReviewRow = {
    id: newId(),
    rental_id: rental.id,
    device_id: rental.device_id,
    renter_id: renterId,
    stars: input.stars,
    comment: input.comment,
    created_at: ctx.clock.now().toISOString(),
    answer: null,
    answered_at: null,
  };
  try {
    await insertReview(ctx.db, row);
  } catch (err) {
    // The rental's unique review: a second try, or two at once, leaves the first.
    if (isUniqueViolation(err)) throw new DomainError('already_rated');
    throw err;
  }
  return presentReview((await findReviewWithRefund(ctx.db, row.id))!);
}

/** The owner of the rated device answers, once. Anyone else is told there is no such rating. */
export async function answerReview(ctx: DomainContext, ownerId: string, reviewId: string, answer: string): Promise<Review> {
  const review = await findReview(ctx.db, reviewId);
  const device = review && (await findDevice(ctx.db, review.device_id));
  if (!review || !device || device.owner_id !== ownerId) throw new DomainError('not_found');
  if (!(await setAnswer(ctx.db, review.id, answer, ctx.clock.now().toISOString()))) throw new DomainError('already_answered');
  return presentReview((await findReviewWithRefund(ctx.db, review.id))!);
}

/** A device's ratings for anyone: count, mean, and the newest `limit` with answers. Removed devices have none to show. */
export async function deviceReviews(ctx: DomainContext, deviceId: string, limit: number): Promise<DeviceReviews> {
  const device = await findDevice(ctx.db, deviceId);
  if (!device || device.removed_at !== null) throw new DomainError('not_found');
  const [totals, rows] = await Promise.all([ratingTotals(ctx.db, [deviceId]), listDeviceReviews(ctx.db, deviceId, limit)]);
  return { deviceId, deviceName: device.name, rating: summarize(totals.get(deviceId)), reviews: rows.map(presentReview) };
}

/** The renter's own rating of a rental, if they made one. */
export async function reviewOfRental(ctx: DomainContext, rentalId: string): Promise<Review | null> {
  const row = await findReviewOfRental(ctx.db, rentalId);
  return row ? presentReview((await findReviewWithRefund(ctx.db, row.id))!) : null;
}

/** The market's listings with their devices' rating summaries. */
export async function withRatings<L extends { deviceId: string }>(
  ctx: DomainContext,
  listings: L[],
): Promise<(L & { rating: RatingSummary })[]> {
  // One grouped query over all ratings beats a list of thousands of IDs (and SQLite's cap on parameters).
  const totals = await ratingTotals(ctx.db, listings.length > 500 ? undefined : listings.map((l) => l.deviceId));
  return listings.map((l) => ({ ...l, rating: summarize(totals.get(l.deviceId)) }));
}
