import type { Db } from './database.ts';
import type { StoredRate } from '../payments/exchange-rates.ts';
import { inTransaction } from './transactions.ts';

/** The exchange rates the operator set for the chain rails' coins (see payments/exchange-rates.ts). */

export async function findRate(db: Db, coin: string): Promise<StoredRate | undefined> {
  const row = await db.selectFrom('exchange_rates').selectAll().where('coin', '=', coin).executeTakeFirst();
  return row && { coin: row.coin, rate: row.rate, setAt: row.set_at, previousRate: row.previous_rate };
}

/** Sets `coin`'s rate `at`, keeping the one it replaces; one statement each, inside one transaction. */
export async function saveRate(db: Db, coin: string, rate: string, at: string): Promise<StoredRate> {
  return inTransaction(db, async (trx) => {
    const current = await findRate(trx, coin);
    const row = { coin, rate, set_at: at, previous_rate: current?.rate ?? null };
    if (current) await trx.updateTable('exchange_rates').set(row).where('coin', '=', coin).execute();
    else await trx.insertInto('exchange_rates').values(row).execute();
    return { coin, rate, setAt: at, previousRate: row.previous_rate };
  });
}
