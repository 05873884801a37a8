import type { Db } from './database.ts';
import type { PayoutsTable } from './schema.ts';

export type PayoutRow = PayoutsTable;

export async function findPayout(db: Db, id: string): Promise<PayoutRow | undefined> {
  return db.selectFrom('payouts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertPayout(db: Db, row: PayoutRow): Promise<void> {
  await db.insertInto('payouts').values(row).execute();
}

/** Writes a payout's changes only if it is still in the state it was read in; false when it moved on meanwhile. */
export async function updatePayoutFrom(trx: Db, row: PayoutRow, changes: Partial<PayoutRow>): Promise<boolean> {
  const res = await trx.updateTable('payouts').set(changes).where('id', '=', row.id).where('state', '=', row.state).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** What a user's payouts marked paid came to. */
export async function paidOutTotal(db: Db, userId: string): Promise<bigint> {
  const paid = await db
    .selectFrom('payouts')
    .select((eb) => eb.fn.sum<string | number | bigint | null>('amount_micros').as('total'))
    .where('user_id', '=', userId)
    .where('state', '=', 'paid')
    .executeTakeFirst();
  return BigInt(paid?.total ?? 0);
}

/** Payouts, newest first, with their owner's email; of one user or in one state when asked. */
export async function listPayouts(
  db: Db,
  filter: { userId?: string; state?: PayoutRow['state'] },
): Promise<(PayoutRow & { email: string })[]> {
  let q = db.selectFrom('payouts').innerJoin('users', 'users.id', 'payouts.user_id').selectAll('payouts').select('users.email as email');
  if (filter.userId) q = q.where('payouts.user_id', '=', filter.userId);
  if (filter.state) q = q.where('payouts.state', '=', filter.state);
  return q.orderBy('payouts.requested_at', 'desc').orderBy('payouts.id').execute();
}
