/**
 * The reliability worker with N listed devices (default 10,000), each with 30 days of
 * figures: one tick's sample of every device, the refresh of every score, and a market
 * page sorted and filtered by reliability (which reads only the score on the device row).
 * Devices and their days are inserted directly; the tick and the market go through the
 * real domain code, on a SQLite file.
 *
 *   node --import tsx bench/reliability.ts [N]
 */
import { performance } from 'node:perf_hooks';
import { insertMany } from '../packages/server/src/db/database.ts';
import { ManualClock } from '../packages/server/src/domain/clock.ts';
import { benchDomain } from './domain-context.ts';
import { windowDays } from '../packages/server/src/domain/devices/reliability.ts';
import { refreshReliabilityScores, sampleReliability } from '../packages/server/src/domain/devices/reliability-record.ts';
import { market } from '../packages/server/src/domain/rentals/rentals.ts';

const n = Number(process.argv[2] ?? 10_000);
const clock = new ManualClock(new Date('2026-03-30T12:00:00Z'));
const { ctx, close } = await benchDomain('reliability', n, clock);
const db = ctx.db;

const now = clock.now().toISOString();
const hw = JSON.stringify({ cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 4 << 30, diskBytes: 32 << 30, arch: 'arm64' });
await insertMany(db, 'users', [{ id: 'owner1', email: 'owner@bench.test', password_hash: 'x', is_admin: 0, created_at: now }]);
await insertMany(
  db,
  'devices',
  Array.from({ length: n }, (_, i) => ({
    id: `d${String(i).padStart(6, '0')}`,
    owner_id: 'owner1',
    name: `pi-${i}`,
    description: '',
    public_key: `bench-key-${i}`,
    hardware: hw,
    ssh_port: 20000 + i,
    web_name: `w${i}`,
    price_per_hour_micros: 20_000,
    on_market: 1,
    online: i % 10 === 0 ? 0 : 1,
    enrolled_at: now,
    last_heartbeat_at: null,
    last_seen_at: null,
    listed_since: now,
    created_at: now,
    removed_at: null,
    online_since: null,
    online_ms: 0,
    uptime_tracked_since: now,
    storage_fault: null,
  })),
);
const days = windowDays(clock.now());
await insertMany(
  db,
  'device_reliability_days',
  Array.from({ length: n }, (_, i) =>
    days.map((day) => ({
      device_id: `d${String(i).padStart(6, '0')}`,
      day,
      expected_ms: 86_400_000,
      online_ms: 86_400_000 - (i % 100) * 60_000,
      maintenance_ms: 0,
      failed_starts: 0,
      lost_rentals: i % 50 === 0 ? 1 : 0,
    })),
  ).flat(),
);

const time = async (what: () => Promise<unknown>) => {
  const start = performance.now();
  await what();
  return performance.now() - start;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const samples: number[] = [];
const refreshes: number[] = [];
const pages: number[] = [];
const baseline: number[] = [];
for (let i = 0; i < 5; i++) {
  clock.advance(60_000);
  samples.push(await time(() => sampleReliability(ctx, 60_000)));
  refreshes.push(await time(() => refreshReliabilityScores(ctx)));
  pages.push(await time(() => market(ctx, { sort: 'reliability', order: 'desc', minReliability: 95, limit: 100 })));
  baseline.push(await time(() => market(ctx, { sort: 'price', order: 'asc', limit: 100 })));
}
const fmt = (xs: number[]) => `median ${Math.round(median(xs))} ms (${xs.map((x) => Math.round(x)).join(', ')})`;
console.log(`reliability with ${n} listed devices, ${n * days.length} daily rows (SQLite file):`);
console.log(`  sample tick (one statement): ${fmt(samples)}`);
console.log(`  score refresh (all devices): ${fmt(refreshes)}`);
console.log(`  market page, sort=reliability&minReliability=95: ${fmt(pages)}`);
console.log(`  market page, sort=price (the same listings without the score, baseline): ${fmt(baseline)}`);
await close();
