import type { Db } from './database.ts';
import type { HardwareBenchmarksTable } from './schema.ts';

export type BenchmarkRow = HardwareBenchmarksTable;

export async function insertBenchmarkChallenge(
  db: Db,
  row: Pick<BenchmarkRow, 'nonce' | 'device_id' | 'issued_at' | 'expires_at'>,
): Promise<void> {
  await db
    .insertInto('hardware_benchmarks')
    .values({ ...row, answered_at: null, figures: null, signature: null, verification: null })
    .execute();
}

export async function findBenchmark(db: Db, nonce: string): Promise<BenchmarkRow | undefined> {
  return db.selectFrom('hardware_benchmarks').selectAll().where('nonce', '=', nonce).executeTakeFirst();
}

/** The device's newest challenge: outstanding or answered. */
export async function latestBenchmark(db: Db, deviceId: string): Promise<BenchmarkRow | undefined> {
  return db
    .selectFrom('hardware_benchmarks')
    .selectAll()
    .where('device_id', '=', deviceId)
    .orderBy('issued_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** The newest answered challenge, if any. */
export async function latestAnsweredBenchmark(db: Db, deviceId: string): Promise<BenchmarkRow | undefined> {
  return db
    .selectFrom('hardware_benchmarks')
    .selectAll()
    .where('device_id', '=', deviceId)
    .where('answered_at', 'is not', null)
    .orderBy('answered_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * Records the answer to a challenge, once: the conditional UPDATE is what makes a nonce
 * single-use, even for two posts racing. False when it was already answered.
 */
export async function answerBenchmark(
  db: Db,
  nonce: string,
  answer: Pick<BenchmarkRow, 'answered_at' | 'figures' | 'signature' | 'verification'>,
): Promise<boolean> {
  const result = await db
    .updateTable('hardware_benchmarks')
    .set(answer)
    .where('nonce', '=', nonce)
    .where('answered_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
