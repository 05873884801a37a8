/**
 * `p2pvps server` for the cluster tests (cluster/leader-failover.test.ts): the same options
 * and the same start-up, with two things a test needs injected through the environment:
 *
 * - P2PVPS_TEST_CLOCK_EPOCH_MS and P2PVPS_TEST_CLOCK_SPEED: the domain's clock runs SPEED
 *   times as fast as real time from EPOCH, the same in every process, so the meter bills a
 *   minute every real second and a test sees many billed minutes in little time. The leader
 *   lease keeps real time.
 * - P2PVPS_TEST_METER_HOLD_MS: each metering batch, its writes done, prints
 *   `P2PVPS-TEST meter-tick-open` and waits this long before committing, so a test can
 *   kill the process in the middle of a tick.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { loadServerConfig } from '../config.ts';
import type { Clock } from '../domain/clock.ts';
import { exitOnStrayErrors } from '../main.ts';
import { startServer } from '../services/server.ts';

export const meterTickOpenLine = 'P2PVPS-TEST meter-tick-open';

/** The clock every node of a test shares: SPEED times real time from EPOCH. */
export function fastClock(epochMs: number, speed: number): Clock {
  return { now: () => new Date(epochMs + (Date.now() - epochMs) * speed) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = process.env;
  const holdMs = Number(env.P2PVPS_TEST_METER_HOLD_MS ?? 0);
  const epoch = Number(env.P2PVPS_TEST_CLOCK_EPOCH_MS ?? Date.now());
  const server = await startServer(loadServerConfig(process.argv.slice(2), env), {
    clock: fastClock(epoch, Number(env.P2PVPS_TEST_CLOCK_SPEED ?? 1)),
    beforeMeterCommit: async () => {
      process.stdout.write(`${meterTickOpenLine}\n`);
      if (holdMs > 0) await sleep(holdMs);
    },
  });
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
  exitOnStrayErrors(() => server.close());
}
