/**
 * The metering worker's tick with N active rentals (default 10,000): how long one
 * minute's billing of all of them takes on a SQLite file, against the baseline of an
 * empty tick. Users and devices are inserted directly; credit, rentals and the tick go
 * through the real domain code.
 *
 *   node --import tsx bench/metering.ts [N] [MINUTES]
 */
import { performance } from 'node:perf_hooks';
import { ManualClock } from '../packages/server/src/domain/clock.ts';
import { benchDomain } from './domain-context.ts';
import { grantCredit } from '../packages/server/src/domain/money/credit.ts';
import { meterTick } from '../packages/server/src/domain/rentals/meter-tick.ts';
import { syncDevice } from '../packages/server/src/domain/rentals/agent-sync.ts';
import { rent } from '../packages/server/src/domain/rentals/rentals.ts';
import { ledgerTotal } from '../packages/server/src/db/ledger-repo.ts';

const n = Number(process.argv[2] ?? 10_000);
const clock = new ManualClock();
const { ctx, close } = await benchDomain('meter', n, clock);
const db = ctx.db;

const time = async (what: () => Promise<unknown>) => {
  const start = performance.now();
  await what();
  return performance.now() - start;
};

const empty = await time(() => meterTick(ctx));
const now = clock.now().toISOString();
await db.transaction().execute(async (trx) => {
  for (let i = 0; i < n; i++) {
    for (const [id, role] of [
      [`o${i}`, 'owner'],
      [`r${i}`, 'renter'],
    ]) {
      await trx
        .insertInto('users')
        .values({ id: id!, email: `${role}${i}@bench.test`, password_hash: 'x', is_admin: 0, created_at: now })
        .execute();
    }
    await trx
      .insertInto('devices')
      .values({
        id: `d${i}`,
        owner_id: `o${i}`,
        name: `pi-${i}`,
        description: '',
        public_key: `bench-key-${i}`,
        // Rent needs the hardware a device reported (it bounds the offer a rental gets).
        hardware: JSON.stringify({ cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 4 * 2 ** 30, diskBytes: 32 * 2 ** 30, arch: 'arm64' }),
        ssh_port: 20000 + i,
        web_name: `w${i}`,
        price_per_hour_micros: 20_000 + i,
        on_market: 1,
        online: 1,
        enrolled_at: now,
        last_heartbeat_at: null,
        last_seen_at: null,
        listed_since: null,
        created_at: now,
        removed_at: null,
        online_ms: 0,
      })
      .execute();
  }
});
// Rentals through the real rules: credit, rent, and the agent reporting the container ready.
for (let i = 0; i < n; i++) {
  await grantCredit(ctx, `r${i}`, 1_000_000_000n, 'bench credit');
  const rental = await rent(ctx, `r${i}`, { deviceId: `d${i}` });
  await syncDevice(ctx, `d${i}`, { container: { rentalId: rental.id, state: 'ready' } });
}

const ticks: number[] = [];
// The first tick also opens every owner's earnings account; the rest are the steady state.
const minutes = Number(process.argv[3] ?? 10);
for (let minute = 0; minute < minutes; minute++) {
  clock.advance(60_000);
  ticks.push(await time(() => meterTick(ctx)));
}
const total = await ledgerTotal(db);
console.log(`metering tick with ${n} active rentals (SQLite file, 1 minute each):`);
console.log(`  ticks: ${ticks.map((t) => `${Math.round(t)} ms`).join(', ')}; empty tick (baseline): ${empty.toFixed(1)} ms`);
const steady = ticks.slice(1).sort((a, b) => a - b);
const median = steady[Math.floor(steady.length / 2)] ?? ticks[0]!;
console.log(
  `  first tick ${Math.round(ticks[0]!)} ms; then median ${Math.round(median)} ms, worst ${Math.round(steady.at(-1) ?? median)} ms`,
);
console.log(`  per rental: ${((median / n) * 1000).toFixed(0)} µs; ledger total after: ${total} (must be 0)`);
await close();
