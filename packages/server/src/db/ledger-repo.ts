import { sql } from 'kysely';
import { chunksFor, insertMany, updateFromValues, type Db } from './database.ts';
import type { LedgerAccountsTable, LedgerEntriesTable, LedgerTransactionsTable } from './schema.ts';

/** The IDs of the ledger accounts with these keys (domain/money/ledger.ts: accountKey), by key; missing ones are left out. */
export async function findLedgerAccountIds(db: Db, keys: string[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const chunk of chunksFor(keys, 1)) {
    const rows = await db.selectFrom('ledger_accounts').select(['id', 'key']).where('key', 'in', chunk).execute();
    for (const r of rows) ids.set(r.key, r.id);
  }
  return ids;
}

/** Creates these accounts; one whose key exists already (made meanwhile) is left as it is. */
export async function insertLedgerAccounts(db: Db, rows: LedgerAccountsTable[]): Promise<void> {
  for (const chunk of chunksFor(rows, 8)) {
    await db
      .insertInto('ledger_accounts')
      .values(chunk)
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
  }
}

/** Writes transactions and their entries, and adds each account's delta to its running balance, in a few set-based statements. */
export async function insertLedgerTransactions(
  trx: Db,
  transactions: LedgerTransactionsTable[],
  entries: LedgerEntriesTable[],
  deltas: [accountId: string, delta: bigint][],
): Promise<void> {
  await insertMany(trx, 'ledger_transactions', transactions as unknown as Record<string, unknown>[]);
  await insertMany(trx, 'ledger_entries', entries as unknown as Record<string, unknown>[]);
  await updateFromValues(trx, {
    table: 'ledger_accounts',
    key: 'id',
    types: ['text', 'bigint'],
    set: sql`balance = balance + v.column2`,
    rows: deltas,
  });
}

/** Whether a ledger transaction with this external key (`rail:eventId`) exists: a deposit was credited. */
export async function externalKeyTaken(db: Db, key: string): Promise<boolean> {
  const row = await db.selectFrom('ledger_transactions').select('id').where('external_key', '=', key).executeTakeFirst();
  return row !== undefined;
}

/** The balance of the account with this key; zero when it does not exist yet. */
export async function ledgerBalance(db: Db, key: string): Promise<bigint> {
  const row = await db.selectFrom('ledger_accounts').select('balance').where('key', '=', key).executeTakeFirst();
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

/** The operator's view of the books: the balance of each kind of account, and their sum (zero). */
export async function ledgerTotals(db: Db): Promise<{ kind: string; accounts: number; balanceMicros: bigint }[]> {
  const rows = await db
    .selectFrom('ledger_accounts')
    .select('kind')
    .select((eb) => [eb.fn.countAll<number>().as('accounts'), eb.fn.sum<string | number | bigint>('balance').as('balance')])
    .groupBy('kind')
    .orderBy('kind')
    .execute();
  return rows.map((r) => ({ kind: r.kind, accounts: Number(r.accounts), balanceMicros: BigInt(r.balance ?? 0) }));
}

/** A page of the entries on a user's accounts, in the order written (or newest first), after entry `after`. */
export function listStatementEntries(db: Db, userId: string, page: { limit: number; order?: 'asc' | 'desc'; after?: string }) {
  const desc = page.order === 'desc';
  let q = db
    .selectFrom('ledger_entries')
    .innerJoin('ledger_accounts', 'ledger_accounts.id', 'ledger_entries.account_id')
    .innerJoin('ledger_transactions', 'ledger_transactions.id', 'ledger_entries.transaction_id')
    .select([
      'ledger_entries.id as id',
      'ledger_entries.created_at as at',
      'ledger_accounts.kind as account',
      'ledger_transactions.kind as kind',
      'ledger_transactions.memo as memo',
      'ledger_transactions.rental_id as rentalId',
      'ledger_entries.amount as amount',
    ])
    .where('ledger_accounts.user_id', '=', userId);
  if (page.after !== undefined) q = q.where('ledger_entries.id', desc ? '<' : '>', page.after);
  // In the order written: entry IDs sort by when they were made.
  return q
    .orderBy('ledger_entries.id', desc ? 'desc' : 'asc')
    .limit(page.limit)
    .execute();
}

/** The balances of every account of these users, by kind (several rails' accounts are separate rows). */
export function listUserBalances(db: Db, userIds: string[]) {
  return db.selectFrom('ledger_accounts').select(['user_id', 'kind', 'balance']).where('user_id', 'in', userIds).execute();
}
