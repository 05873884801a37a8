import type { Db } from './database.ts';
import { isUniqueViolation } from './database.ts';
import type { ChainTrail } from '../payments/ethereum/chain-trail.ts';

/**
 * The chain rails' storage on the database: renters' deposit addresses (one per renter and
 * rail, at the next derivation index) and each watcher's cursor. Implements the Ethereum
 * rail's DepositDirectory and BlockCursor, so a restarted server keeps both.
 */

export interface DepositAddressRow {
  userId: string;
  address: string;
  derivationIndex: number;
}

/** The renter's address on `rail`, or undefined before they asked for one. */
export async function findDepositAddress(db: Db, rail: string, userId: string): Promise<DepositAddressRow | undefined> {
  const row = await db
    .selectFrom('deposit_addresses')
    .select(['user_id', 'address', 'derivation_index'])
    .where('rail', '=', rail)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row && { userId: row.user_id, address: row.address, derivationIndex: Number(row.derivation_index) };
}

/**
 * The renter asks to top up on `rail`: their address, allocating the next derivation index on
 * first use, and marked requested `at` (the Bitcoin scanner watches recently requested ones).
 * Two requests racing for one index both insert; the primary key (rail, index) lets one win and
 * the other retries with the next; a renter racing with themself gets the one that won.
 * `derive` maps an index to the address as stored (lower-case). One address per renter and
 * rail, reused: the derivation index grows by one per renter who ever asked, never per request.
 */
export async function allocateDepositAddress(
  db: Db,
  rail: string,
  userId: string,
  derive: (index: number) => string,
  at: string,
): Promise<DepositAddressRow> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const existing = await findDepositAddress(db, rail, userId);
    if (existing) {
      await db.updateTable('deposit_addresses').set({ requested_at: at }).where('rail', '=', rail).where('user_id', '=', userId).execute();
      return existing;
    }
    const top = await db
      .selectFrom('deposit_addresses')
      .select((eb) => eb.fn.max('derivation_index').as('top'))
      .where('rail', '=', rail)
      .executeTakeFirst();
    const index = top?.top === null || top?.top === undefined ? 0 : Number(top.top) + 1;
    const address = derive(index);
    try {
      await db
        .insertInto('deposit_addresses')
        .values({ rail, derivation_index: index, user_id: userId, address, created_at: at, requested_at: at })
        .execute();
      return { userId, address, derivationIndex: index };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }
  throw new Error(`could not allocate a ${rail} deposit address for ${userId}: too many concurrent allocations`);
}

/** The deposit addresses on `rail` and whose they are; with `requestedSince`, only those asked for since then. */
export async function listDepositAddresses(db: Db, rail: string, requestedSince?: string): Promise<DepositAddressRow[]> {
  let query = db.selectFrom('deposit_addresses').select(['user_id', 'address', 'derivation_index']).where('rail', '=', rail);
  if (requestedSince !== undefined) query = query.where('requested_at', '>=', requestedSince);
  const rows = await query.orderBy('derivation_index').execute();
  return rows.map((r) => ({ userId: r.user_id, address: r.address, derivationIndex: Number(r.derivation_index) }));
}

/** Which of `addresses` (lower-case) are deposit addresses on `rail`, and whose: the Ethereum rail's DepositDirectory. */
export class DbDepositDirectory {
  constructor(
    private readonly db: Db,
    private readonly rail: string,
  ) {}

  async owners(addresses: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const wanted = [...new Set(addresses.map((a) => a.toLowerCase()))];
    for (let i = 0; i < wanted.length; i += 500) {
      const rows = await this.db
        .selectFrom('deposit_addresses')
        .select(['address', 'user_id'])
        .where('rail', '=', this.rail)
        .where('address', 'in', wanted.slice(i, i + 500))
        .execute();
      for (const row of rows) found.set(row.address, row.user_id);
    }
    return found;
  }
}

/** The last block a rail's watcher finished, kept across restarts: the Ethereum rail's BlockCursor. */
export class DbBlockCursor {
  constructor(
    private readonly db: Db,
    private readonly rail: string,
    private readonly now: () => Date,
  ) {}

  async load(): Promise<bigint | null> {
    const row = await this.db.selectFrom('rail_cursors').select('position').where('rail', '=', this.rail).executeTakeFirst();
    return row ? BigInt(row.position) : null;
  }

  async save(position: bigint, trail?: ChainTrail): Promise<void> {
    const updated_at = this.now().toISOString();
    const recent_blocks = trail && (trail.blocks.length > 0 || trail.orphans) ? JSON.stringify(trail) : null;
    await this.db
      .insertInto('rail_cursors')
      .values({ rail: this.rail, position, updated_at, recent_blocks })
      .onConflict((oc) => oc.column('rail').doUpdateSet({ position, updated_at, recent_blocks }))
      .execute();
  }

  /** The trail of block hashes saved with the position (see chain-trail.ts); empty when none was. */
  async loadTrail(): Promise<ChainTrail> {
    const row = await this.db.selectFrom('rail_cursors').select('recent_blocks').where('rail', '=', this.rail).executeTakeFirst();
    return row?.recent_blocks ? (JSON.parse(row.recent_blocks) as ChainTrail) : { blocks: [] };
  }
}
