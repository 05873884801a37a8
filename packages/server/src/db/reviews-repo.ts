import type { Db } from './database.ts';
import type { ReviewsTable } from './schema.ts';

export type ReviewRow = ReviewsTable;
/** A review with what its rental's dispute gave back, if anything, and what the rental was paid. */
export type ReviewWithRefund = ReviewRow & { refund_micros: bigint | number | string | null; charged_micros: bigint | number | string };

export function insertReview(db: Db, row: ReviewRow): Promise<unknown> {
  return db.insertInto('reviews').values(row).execute();
}

export function findReview(db: Db, id: string): Promise<ReviewRow | undefined> {
  return db.selectFrom('reviews').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findReviewOfRental(db: Db, rentalId: string): Promise<ReviewRow | undefined> {
  return db.selectFrom('reviews').selectAll().where('rental_id', '=', rentalId).executeTakeFirst();
}

/** Sets the answer only if there is none yet: false when another was there first. */
export async function setAnswer(db: Db, id: string, answer: string, at: string): Promise<boolean> {
  const res = await db
    .updateTable('reviews')
    .set({ answer, answered_at: at })
    .where('id', '=', id)
    .where('answer', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

function withRefund(db: Db) {
  return db
    .selectFrom('reviews')
    .innerJoin('rentals', 'rentals.id', 'reviews.rental_id')
    .leftJoin('disputes', 'disputes.rental_id', 'reviews.rental_id')
    .selectAll('reviews')
    .select(['disputes.refund_micros as refund_micros', 'rentals.charged_micros as charged_micros']);
}

export function findReviewWithRefund(db: Db, id: string): Promise<ReviewWithRefund | undefined> {
  return withRefund(db).where('reviews.id', '=', id).executeTakeFirst();
}

/** A device's newest reviews first. */
export function listDeviceReviews(db: Db, deviceId: string, limit: number): Promise<ReviewWithRefund[]> {
  return withRefund(db)
    .where('reviews.device_id', '=', deviceId)
    .orderBy('reviews.created_at', 'desc')
    .orderBy('reviews.id', 'desc')
    .limit(limit)
    .execute();
}

/** Count and sum of stars per device, for the devices given (all when `deviceIds` is undefined). */
export async function ratingTotals(db: Db, deviceIds?: readonly string[]): Promise<Map<string, { count: number; stars: number }>> {
  let q = db
    .selectFrom('reviews')
    .select('device_id')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number | string | bigint>('stars').as('stars')])
    .groupBy('device_id');
  if (deviceIds) {
    if (deviceIds.length === 0) return new Map();
    q = q.where('device_id', 'in', deviceIds);
  }
  const rows = await q.execute();
  return new Map(rows.map((r) => [r.device_id, { count: Number(r.n), stars: Number(r.stars) }]));
}
