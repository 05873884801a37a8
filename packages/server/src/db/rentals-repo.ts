import type { Db } from './database.ts';
import type { RentalsTable } from './schema.ts';

export type RentalRow = RentalsTable;

export function insertRental(db: Db, rental: RentalRow): Promise<unknown> {
  return db.insertInto('rentals').values(rental).execute();
}

export function findRental(db: Db, id: string): Promise<RentalRow | undefined> {
  return db.selectFrom('rentals').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findOpenRentalForDevice(db: Db, deviceId: string): Promise<RentalRow | undefined> {
  return db.selectFrom('rentals').selectAll().where('open_device_id', '=', deviceId).executeTakeFirst();
}

/** A renter's rentals, newest first, up to `limit`, those before (created_at, id) `before` when given. */
export function listRenterRentals(
  db: Db,
  renterId: string,
  includeEnded: boolean,
  page: { limit: number; before?: readonly [string, string] },
): Promise<RentalRow[]> {
  let q = db.selectFrom('rentals').selectAll().where('renter_id', '=', renterId);
  if (!includeEnded) q = q.where('state', '!=', 'ended');
  const before = page.before;
  if (before)
    q = q.where((eb) => eb.or([eb('created_at', '<', before[0]), eb.and([eb('created_at', '=', before[0]), eb('id', '<', before[1])])]));
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
}

export function listExpiredRentals(db: Db, now: string): Promise<RentalRow[]> {
  return db.selectFrom('rentals').selectAll().where('state', '=', 'active').where('expires_at', '<=', now).execute();
}

/** Applies changes only if the rental is still in `fromState`; false when it moved on meanwhile. */
export async function updateRentalFrom(db: Db, id: string, fromState: string, changes: Partial<RentalRow>): Promise<boolean> {
  const res = await db.updateTable('rentals').set(changes).where('id', '=', id).where('state', '=', fromState).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** A renter's open pay-as-you-go rentals (not prepaid, not yet ending): how many, and their prices per hour summed. */
export async function openPayAsYouGo(db: Db, renterId: string): Promise<{ count: number; pricePerHourMicros: bigint }> {
  const row = await db
    .selectFrom('rentals')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<string | number | bigint | null>('price_per_hour_micros').as('total')])
    .where('renter_id', '=', renterId)
    .where('hours', 'is', null)
    .where('state', 'in', ['requested', 'active'])
    .executeTakeFirst();
  return { count: Number(row?.n ?? 0), pricePerHourMicros: BigInt(row?.total ?? 0) };
}

/** Rentals whose password is still in clear (written before passwords were sealed). */
export function listUnsealedPasswords(db: Db): Promise<Pick<RentalRow, 'id' | 'password_sealed'>[]> {
  return db
    .selectFrom('rentals')
    .select(['id', 'password_sealed'])
    .where('password_sealed', '!=', '')
    .where('password_sealed', 'not like', 'sealed:%')
    .execute();
}

export async function setRentalPassword(db: Db, id: string, sealed: string, crypt: string): Promise<void> {
  await db.updateTable('rentals').set({ password_sealed: sealed, password_crypt: crypt }).where('id', '=', id).execute();
}

/** Changes a rental whatever its state (the caller has checked it, in the same transaction). */
export async function updateRental(db: Db, id: string, changes: Partial<RentalRow>): Promise<void> {
  await db.updateTable('rentals').set(changes).where('id', '=', id).execute();
}
