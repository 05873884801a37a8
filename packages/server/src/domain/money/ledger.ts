import { isUniqueViolation, type Db } from '../../db/database.ts';
import {
  findLedgerAccountIds,
  insertLedgerAccounts,
  insertLedgerTransactions,
  ledgerBalance,
  listStatementEntries,
} from '../../db/ledger-repo.ts';
import type { LedgerEntriesTable, LedgerTransactionsTable } from '../../db/schema.ts';
import { newId, sortableId } from '../secrets.ts';
import { inTransaction } from '../../db/transactions.ts';

/**
 * The double-entry ledger. Every movement of money is one transaction of entries that sum
 * to zero, written in one database transaction; money from outside carries an external
 * key (rail:eventId) that is unique, so a redelivered payment is applied at most once.
 *
 * Sign convention: an account's balance is the sum of its entries. A renter's balance and
 * an owner's earnings are what the marketplace owes them (positive); a rail's clearing
 * account goes negative by what came in through it and back up by what went out.
 */
export type AccountKind =
  | 'renter_balance'
  | 'rental_hold'
  | 'owner_earnings'
  | 'marketplace_fees'
  | 'rail_clearing'
  | 'payouts_pending'
  /** One per federation peer: at the renter's server what it owes the peer, at the device's server minus what the peer owes it. */
  | 'peer_account';

export interface AccountRef {
  kind: AccountKind;
  userId?: string;
  rail?: string;
  /** A prepaid term's hold belongs to one rental. */
  rentalId?: string;
  /** A peer_account's peer; kept in the account's rail column, the counterparty's slot (no user owns it). */
  peerId?: string;
}

export interface Posting extends AccountRef {
  amount: bigint;
  /** The account's ID when the caller already has it (the meter joins them in); otherwise looked up by kind, user, rail. */
  accountId?: string;
}

export type TransactionKind =
  | 'deposit'
  | 'credit'
  | 'credit_removal'
  | 'deposit_reversal'
  | 'rental_charge'
  | 'hold'
  | 'hold_release'
  | 'payout_request'
  | 'payout_paid'
  | 'payout_cancelled'
  | 'dispute_refund'
  | 'federation_usage'
  | 'federation_settlement'
  | 'federation_backup';

export interface PostOptions {
  kind: TransactionKind;
  memo: string;
  at: string;
  postings: Posting[];
  externalKey?: string;
  rentalId?: string;
}

export class UnbalancedTransaction extends Error {}

/** The account's unique key: kind|user|rail, then |rental for a hold. SQL that joins on it must build it the same way. */
export function accountKey(ref: AccountRef): string {
  const key = `${ref.kind}|${ref.userId ?? ''}|${ref.rail ?? ref.peerId ?? ''}`;
  return ref.rentalId ? `${key}|${ref.rentalId}` : key;
}

/** The IDs of the accounts named, by key; accounts are created on first use. */
async function accountIds(db: Db, refs: Map<string, AccountRef>, at: string): Promise<Map<string, string>> {
  const ids = await findLedgerAccountIds(db, [...refs.keys()]);
  const missing = [...refs].filter(([key]) => !ids.has(key));
  if (missing.length === 0) return ids;
  const rows = missing.map(([key, ref]) => ({
    id: newId(),
    kind: ref.kind,
    user_id: ref.userId ?? null,
    rail: ref.rail ?? ref.peerId ?? null,
    rental_id: ref.rentalId ?? null,
    key,
    balance: 0,
    created_at: at,
  }));
  await insertLedgerAccounts(db, rows);
  for (const [key, id] of await findLedgerAccountIds(
    db,
    missing.map(([key]) => key),
  ))
    ids.set(key, id);
  return ids;
}

/**
 * Writes one balanced transaction; returns its ID, or null when `externalKey` was
 * already applied. Throws UnbalancedTransaction when the entries do not sum to zero.
 * Pass a transaction (`trx`) to make it part of a larger atomic change.
 */
export async function post(db: Db, o: PostOptions): Promise<string | null> {
  try {
    const [id] = await inTransaction(db, (trx) => postMany(trx, [o]));
    return id!;
  } catch (err) {
    if (o.externalKey && isUniqueViolation(err)) return null;
    throw err;
  }
}

/**
 * Writes many balanced transactions at once, inside the caller's database transaction:
 * a few set-based statements however many there are (the metering tick writes one per
 * active rental each minute). All or nothing; a taken external key fails the lot.
 */
export async function postMany(trx: Db, list: readonly PostOptions[]): Promise<string[]> {
  if (!trx.isTransaction) throw new Error('postMany must run inside a database transaction');
  const refs = new Map<string, AccountRef>();
  for (const o of list) {
    const sum = o.postings.reduce((s, p) => s + p.amount, 0n);
    if (sum !== 0n) throw new UnbalancedTransaction(`a ${o.kind} transaction must sum to zero, not ${sum}`);
    for (const p of o.postings) if (p.amount !== 0n && p.accountId === undefined) refs.set(accountKey(p), p);
  }
  const accounts = await accountIds(trx, refs, list[0]?.at ?? '');
  const transactions: LedgerTransactionsTable[] = [];
  const entries: LedgerEntriesTable[] = [];
  const deltas = new Map<string, bigint>();
  for (const o of list) {
    const id = sortableId();
    transactions.push({
      id,
      kind: o.kind,
      external_key: o.externalKey ?? null,
      rental_id: o.rentalId ?? null,
      memo: o.memo,
      created_at: o.at,
    });
    // An entry's ID is its transaction's and its place in it: unique, and in the order written.
    if (o.postings.length > 36 * 36) throw new RangeError('a transaction has at most 1,296 entries');
    let n = 0;
    for (const p of o.postings) {
      if (p.amount === 0n) continue;
      const account = p.accountId ?? accounts.get(accountKey(p))!;
      entries.push({
        id: `${id}${(n++).toString(36).padStart(2, '0')}`,
        transaction_id: id,
        account_id: account,
        amount: p.amount,
        created_at: o.at,
      });
      deltas.set(account, (deltas.get(account) ?? 0n) + p.amount);
    }
  }
  await insertLedgerTransactions(
    trx,
    transactions,
    entries,
    [...deltas].filter(([, delta]) => delta !== 0n),
  );
  return transactions.map((t) => t.id);
}

export function balanceOf(db: Db, ref: AccountRef): Promise<bigint> {
  return ledgerBalance(db, accountKey(ref));
}

export interface StatementLine {
  at: string;
  account: AccountKind;
  kind: TransactionKind;
  memo: string;
  rentalId: string | null;
  amountMicros: bigint;
}

/** A page of the entries on a user's accounts (balance and earnings), in the order written (or newest first), after entry `after`. */
export async function statementOf(
  db: Db,
  userId: string,
  page: { limit: number; order?: 'asc' | 'desc'; after?: string },
): Promise<(StatementLine & { id: string })[]> {
  const rows = await listStatementEntries(db, userId, page);
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    account: r.account as AccountKind,
    kind: r.kind as TransactionKind,
    memo: r.memo,
    rentalId: r.rentalId,
    amountMicros: BigInt(r.amount),
  }));
}
