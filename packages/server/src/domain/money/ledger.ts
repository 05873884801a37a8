import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { newId, sortableId } from '../secrets.ts';

/**
 * The double-entry ledger. Every movement of money is one transaction of entries that sum
 * to zero, written in one database transaction; money from outside carries an external
 * key (rail:eventId) that is unique, so a redelivered payment is applied at most once.
 *
 * Sign convention: an account's balance is the sum of its entries. A renter's balance and
 * an owner's earnings are what the marketplace owes them (positive); a rail's clearing
 * account goes negative by what came in through it and back up by what went out.
 */
export type AccountKind = 'renter_balance' | 'owner_earnings' | 'marketplace_fees' | 'rail_clearing' | 'payouts_pending';

export interface AccountRef {
  kind: AccountKind;
  userId?: string;
  rail?: string;
}

export interface Posting extends AccountRef {
  amount: bigint;
}

export type TransactionKind = 'deposit' | 'credit' | 'credit_removal' | 'rental_charge' | 'payout_request' | 'payout_paid';

export interface PostOptions {
  kind: TransactionKind;
  memo: string;
  at: string;
  postings: Posting[];
  externalKey?: string;
  rentalId?: string;
}

export class UnbalancedTransaction extends Error {}

function accountKey(ref: AccountRef): string {
  return `${ref.kind}|${ref.userId ?? ''}|${ref.rail ?? ''}`;
}

/** The account for `ref`, created on first use. */
async function accountId(db: Db, ref: AccountRef, at: string): Promise<string> {
  const key = accountKey(ref);
  const found = await db.selectFrom('ledger_accounts').select('id').where('key', '=', key).executeTakeFirst();
  if (found) return found.id;
  const id = newId();
  await db
    .insertInto('ledger_accounts')
    .values({ id, kind: ref.kind, user_id: ref.userId ?? null, rail: ref.rail ?? null, key, balance: 0, created_at: at })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db.selectFrom('ledger_accounts').select('id').where('key', '=', key).executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Writes one balanced transaction; returns its ID, or null when `externalKey` was
 * already applied. Throws UnbalancedTransaction when the entries do not sum to zero.
 * Pass a transaction (`trx`) to make it part of a larger atomic change.
 */
export async function post(db: Db, o: PostOptions): Promise<string | null> {
  const sum = o.postings.reduce((s, p) => s + p.amount, 0n);
  if (sum !== 0n) throw new UnbalancedTransaction(`a ${o.kind} transaction must sum to zero, not ${sum}`);
  const postings = o.postings.filter((p) => p.amount !== 0n);
  const write = async (trx: Db) => {
    const id = sortableId();
    await trx
      .insertInto('ledger_transactions')
      .values({ id, kind: o.kind, external_key: o.externalKey ?? null, rental_id: o.rentalId ?? null, memo: o.memo, created_at: o.at })
      .execute();
    for (const p of postings) {
      const account = await accountId(trx, p, o.at);
      await trx
        .insertInto('ledger_entries')
        .values({ id: sortableId(), transaction_id: id, account_id: account, amount: p.amount, created_at: o.at })
        .execute();
      await trx
        .updateTable('ledger_accounts')
        .set((eb) => ({ balance: eb('balance', '+', p.amount) }))
        .where('id', '=', account)
        .execute();
    }
    return id;
  };
  try {
    return db.isTransaction ? await write(db) : await db.transaction().execute(write);
  } catch (err) {
    if (o.externalKey && isUniqueViolation(err)) return null;
    throw err;
  }
}

export async function balanceOf(db: Db, ref: AccountRef): Promise<bigint> {
  const row = await db.selectFrom('ledger_accounts').select('balance').where('key', '=', accountKey(ref)).executeTakeFirst();
  return BigInt(row?.balance ?? 0);
}

/** Accounts whose running balance differs from the sum of their entries: none, always. */
export async function driftedAccounts(db: Db): Promise<string[]> {
  const rows = await db
    .selectFrom('ledger_accounts')
    .leftJoin('ledger_entries', 'ledger_entries.account_id', 'ledger_accounts.id')
    .select(['ledger_accounts.key as key', 'ledger_accounts.balance as balance'])
    .select(sql<string | number | bigint | null>`sum(ledger_entries.amount)`.as('total'))
    .groupBy(['ledger_accounts.id', 'ledger_accounts.key', 'ledger_accounts.balance'])
    .execute();
  return rows.filter((r) => BigInt(r.balance) !== BigInt(r.total ?? 0)).map((r) => r.key);
}

/** The sum over every account: zero, always (tests assert it after every scenario). */
export async function ledgerTotal(db: Db): Promise<bigint> {
  const row = await db
    .selectFrom('ledger_entries')
    .select(sql<string | number | bigint | null>`sum(amount)`.as('total'))
    .executeTakeFirst();
  return BigInt(row?.total ?? 0);
}

export interface StatementLine {
  at: string;
  account: AccountKind;
  kind: TransactionKind;
  memo: string;
  rentalId: string | null;
  amountMicros: bigint;
}

/** Every entry on a user's accounts (balance and earnings), oldest first. */
export async function statementOf(db: Db, userId: string): Promise<StatementLine[]> {
  const rows = await db
    .selectFrom('ledger_entries')
    .innerJoin('ledger_accounts', 'ledger_accounts.id', 'ledger_entries.account_id')
    .innerJoin('ledger_transactions', 'ledger_transactions.id', 'ledger_entries.transaction_id')
    .select([
      'ledger_entries.created_at as at',
      'ledger_accounts.kind as account',
      'ledger_transactions.kind as kind',
      'ledger_transactions.memo as memo',
      'ledger_transactions.rental_id as rentalId',
      'ledger_entries.amount as amount',
    ])
    .where('ledger_accounts.user_id', '=', userId)
    // In the order written: entry IDs sort by when they were made.
    .orderBy('ledger_entries.id')
    .execute();
  return rows.map((r) => ({
    at: r.at,
    account: r.account as AccountKind,
    kind: r.kind as TransactionKind,
    memo: r.memo,
    rentalId: r.rentalId,
    amountMicros: BigInt(r.amount),
  }));
}
