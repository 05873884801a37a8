import { sql } from 'kysely';
import { chunksFor, updateFromValues, type Db } from './database.ts';
import { dedupKeyExpr } from './mail-repo.ts';
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

/** Active rentals that end after `now` and by `until`, whose renter has not been told of this expiry (rental_ending_soon mail). */
export function listRentalsEndingUnnoticed(db: Db, now: string, until: string): Promise<RentalRow[]> {
  return db
    .selectFrom('rentals')
    .selectAll()
    .where('state', '=', 'active')
    .where('expires_at', 'is not', null)
    .where('expires_at', '>', now)
    .where('expires_at', '<=', until)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('mail_messages')
            .select('mail_messages.id')
            .whereRef('mail_messages.dedup_key', '=', dedupKeyExpr('rental_ending_soon:', 'rentals.id', 'rentals.expires_at')),
        ),
      ),
    )
    .execute();
}

/** The rentals of an owner's devices, newest first, with what each charged, the fee, and what a dispute's refund took back. */
export function listOwnerRentalEarnings(db: Db, ownerId: string) {
  return (
    db
      .selectFrom('rentals')
      .innerJoin('devices', 'devices.id', 'rentals.device_id')
      // A dispute's refund takes the owner's part back from what the rental earned.
      .leftJoin('disputes', 'disputes.rental_id', 'rentals.id')
      .select([
        'rentals.id as rentalId',
        'rentals.device_id as deviceId',
        'devices.name as deviceName',
        'rentals.state as state',
        'rentals.created_at as createdAt',
        'rentals.ended_at as endedAt',
        'rentals.billed_minutes as minutesBilled',
        'rentals.charged_micros as charged',
        'rentals.fee_micros as fee',
        'disputes.owner_refund_micros as refunded',
      ])
      .where('devices.owner_id', '=', ownerId)
      .orderBy('rentals.created_at', 'desc')
      .orderBy('rentals.id')
      .execute()
  );
}

/** Rentals as the meter needs them (any state; `meteredRentals` keeps the active ones). */
export function rentalsWithAccounts(db: Db) {
  // The accounts' keys as domain/money/ledger.ts's accountKey builds them: kind|user|rail, then |rental for a hold.
  const payingKey = sql<string>`case when rentals.hours is null then 'renter_balance|' || rentals.renter_id || '|'
    else 'rental_hold|' || rentals.renter_id || '||' || rentals.id end`;
  return db
    .selectFrom('rentals')
    .innerJoin('devices', 'devices.id', 'rentals.device_id')
    .leftJoin('ledger_accounts as paying', (join) => join.on(sql<boolean>`paying.key = ${payingKey}`))
    .leftJoin('ledger_accounts as earning', (join) => join.on(sql<boolean>`earning.key = 'owner_earnings|' || devices.owner_id || '|'`))
    .select([
      'rentals.id',
      'rentals.device_id',
      'rentals.device_name',
      'rentals.renter_id',
      'rentals.hours',
      'rentals.expires_at',
      'rentals.billed_until',
      'rentals.billed_minutes',
      'rentals.charged_micros',
      'rentals.fee_micros',
      'rentals.price_per_hour_micros',
      'rentals.fee_bps',
      'rentals.offline_since',
      'devices.owner_id as owner_id',
      'paying.id as paying_account_id',
      'earning.id as owner_account_id',
      'paying.balance as paying_balance',
    ]);
}

export function meteredRentals(db: Db) {
  // A peer's rental is billed by its usage reports (federation/origin-rentals.ts), not here.
  return rentalsWithAccounts(db).where('rentals.state', '=', 'active').where('rentals.origin_peer_id', 'is', null);
}

/** One active rental as the meter needs it. */
export function findMeteredRental(db: Db, id: string) {
  return meteredRentals(db).where('rentals.id', '=', id).executeTakeFirst();
}

/** One rental in any state as the meter needs it (a hold closing as it ends). */
export function findRentalWithAccounts(db: Db, id: string) {
  return rentalsWithAccounts(db).where('rentals.id', '=', id).executeTakeFirst();
}

/** A batch of active rentals as the meter needs them, in ID order after `after`. */
export function listMeteredRentals(db: Db, after: string, limit: number) {
  return meteredRentals(db).where('rentals.id', '>', after).orderBy('rentals.id').limit(limit).execute();
}

/** What settling a rental changes: id, billed_minutes, charged_micros, fee_micros, billed_until, offline_since. */
/** id, billed_minutes, charged_micros, fee_micros, billed_until, offline_since, and the billed_until it was settled from. */
export type SettledRental = [string, number, bigint, bigint, string, string | null, string];

/** Writes many rentals' settlements in one statement. */
export function updateSettledRentals(trx: Db, rows: SettledRental[]): Promise<number> {
  // Only where billed_until is still what the settlement started from (the last column): a
  // compare-and-set, so two settlements of the same minutes never both write. Returns the rows written.
  return updateFromValues(trx, {
    table: 'rentals',
    key: 'id',
    types: ['text', 'integer', 'bigint', 'bigint', 'text', 'text', 'text'],
    set: sql`billed_minutes = v.column2, charged_micros = v.column3, fee_micros = v.column4, billed_until = v.column5, offline_since = v.column6`,
    rows,
    where: sql`rentals.billed_until = v.column7`,
  });
}

/** Active rentals whose device has been offline since `cutoff` or before. */
export function listRentalsOfflineSince(db: Db, cutoff: string): Promise<RentalRow[]> {
  return db
    .selectFrom('rentals')
    .selectAll()
    .where('state', '=', 'active')
    .where('offline_since', 'is not', null)
    .where('offline_since', '<=', cutoff)
    .execute();
}

/** Active pay-as-you-go rentals with their renter's balance and the times it was found low and used up. */
export function listBalanceRentals(db: Db) {
  return db
    .selectFrom('rentals')
    .leftJoin('ledger_accounts', (join) =>
      join.onRef('ledger_accounts.user_id', '=', 'rentals.renter_id').on('ledger_accounts.kind', '=', 'renter_balance'),
    )
    .select([
      'rentals.id as id',
      'rentals.renter_id as renterId',
      'rentals.price_per_hour_micros as price',
      'rentals.balance_low_at as lowAt',
      'rentals.balance_exhausted_at as exhaustedAt',
      'ledger_accounts.balance as balance',
    ])
    .where('rentals.state', '=', 'active')
    .where('rentals.hours', 'is', null)
    .where('rentals.origin_peer_id', 'is', null)
    .execute();
}

/** Changes many rentals at once, whatever their state. */
export async function updateRentals(db: Db, ids: string[], changes: Partial<RentalRow>): Promise<void> {
  for (const chunk of chunksFor(ids, 1)) await db.updateTable('rentals').set(changes).where('id', 'in', chunk).execute();
}

/** How many open rentals (requested, active, ending) each of these renters has. */
export function countOpenRentalsByRenter(db: Db, renterIds: string[]) {
  return db
    .selectFrom('rentals')
    .select('renter_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', 'in', ['requested', 'active', 'ending'])
    .where('renter_id', 'in', renterIds)
    .groupBy('renter_id')
    .execute();
}

/** The open rental of each of these devices that has one. */
export function listOpenRentalIds(db: Db, deviceIds: string[]): Promise<Pick<RentalRow, 'id' | 'device_id'>[]> {
  return db.selectFrom('rentals').select(['id', 'device_id']).where('open_device_id', 'in', deviceIds).execute();
}

/** The newest rentals, up to `limit`, with their renter's and owner's emails and their device's port and web name. */
export function listRentalsWithParties(db: Db, limit: number) {
  return db
    .selectFrom('rentals')
    .innerJoin('users as renter', 'renter.id', 'rentals.renter_id')
    .innerJoin('devices', 'devices.id', 'rentals.device_id')
    .innerJoin('users as owner', 'owner.id', 'devices.owner_id')
    .selectAll('rentals')
    .select(['renter.email as renter_email', 'owner.email as owner_email', 'devices.ssh_port', 'devices.web_name'])
    .orderBy('rentals.created_at', 'desc')
    .orderBy('rentals.id')
    .limit(limit)
    .execute();
}
