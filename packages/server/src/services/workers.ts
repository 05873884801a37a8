import { reliabilityTick } from '../domain/devices/reliability-record.ts';
import { ReliabilityTicks } from '../domain/devices/reliability-ticks.ts';
import type { DomainContext } from '../domain/context.ts';
import { queueDeviceOfflineNotices, queueEndingSoonNotices } from '../domain/mail/notices.ts';
import { meterTick } from '../domain/rentals/meter-tick.ts';
import { endExpiredRentals } from '../domain/rentals/rentals.ts';
import { housekeep } from './housekeeping.ts';
import { PeriodicWorker } from './periodic-worker.ts';
import type { LeaderLease } from '../cluster/leader-lease.ts';
import type { Db } from '../db/database.ts';
import type { ServerCertificate } from './server-certificate.ts';

export interface WorkerIntervals {
  expiryCheckIntervalMs: number;
  meterIntervalMs: number;
  reliabilityIntervalMs: number;
  tlsCheckIntervalMs: number;
}

/**
 * The server's periodic work, each job on its own timer and one run at a time: rental
 * expiry, the meter, the reliability score, the notices nobody reports as they happen,
 * housekeeping, and the certificate check. `close()` waits for the runs in progress. All but
 * the certificate check run only while this node holds the periodic-work lease
 * (cluster/leader-lease.ts), and each meter batch confirms the lease before it commits.
 */
export function serverWorkers(
  ctx: DomainContext,
  config: WorkerIntervals,
  o: {
    log: { error(fields: object, message: string): void };
    kickMail(): void;
    certificate?: ServerCertificate | undefined;
    leader: Pick<LeaderLease, 'whileLeading' | 'fence'>;
    /** A test's hook inside each meter batch, before the lease is confirmed and it commits. */
    beforeMeterCommit?: () => Promise<void>;
  },
) {
  const { log, certificate, leader } = o;
  const expiry = new PeriodicWorker(
    config.expiryCheckIntervalMs,
    leader.whileLeading(() => endExpiredRentals(ctx)),
    (err) => log.error({ err }, 'expiry worker failed'),
  );
  const meter = new PeriodicWorker(
    config.meterIntervalMs,
    leader.whileLeading(() =>
      meterTick(ctx, {
        fence: async (trx: Db) => {
          await o.beforeMeterCommit?.();
          await leader.fence(trx);
        },
      }),
    ),
    (err) => log.error({ err }, 'metering failed'),
  );
  // Reliability: each tick counts the time since the last into devices' days (reliability-ticks.ts).
  const reliabilityTicks = new ReliabilityTicks(config.reliabilityIntervalMs);
  const reliability = new PeriodicWorker(
    config.reliabilityIntervalMs,
    leader.whileLeading(() => {
      const tick = reliabilityTicks.next(ctx.clock.now());
      return reliabilityTick(ctx, tick.elapsedMs, tick.refreshScores);
    }),
    (err) => log.error({ err }, 'reliability worker failed'),
  );
  // Notices nobody reports as they happen: a rental about to end, a device gone for a while.
  const startedAt = ctx.clock.now();
  const notices = new PeriodicWorker(
    config.expiryCheckIntervalMs,
    leader.whileLeading(async () => {
      const queued = (await queueEndingSoonNotices(ctx)) + (await queueDeviceOfflineNotices(ctx, startedAt));
      if (queued > 0) o.kickMail();
    }),
    (err) => log.error({ err }, 'notice worker failed'),
  );
  // Re-reads the certificate files, or orders and renews over ACME once the HTTP door listens for the challenge.
  const certificateCheck = new PeriodicWorker(
    config.tlsCheckIntervalMs,
    async () => certificate?.check(),
    (err) => log.error({ err }, 'certificate check failed'),
  );
  // Housekeeping: devices never enrolled before their token expired, sessions expired or left unused.
  const housekeeping = new PeriodicWorker(
    config.expiryCheckIntervalMs,
    leader.whileLeading(() => housekeep(ctx)),
    (err) => log.error({ err }, 'housekeeping failed'),
  );
  return {
    start(): void {
      if (certificate) {
        void certificate.check();
        certificateCheck.start();
      }
      expiry.start();
      meter.start();
      reliability.start();
      housekeeping.start();
      notices.start();
    },
    async close(): Promise<void> {
      await expiry.close();
      await meter.close();
      await reliability.close();
      await notices.close();
      await certificateCheck.close();
      await housekeeping.close();
    },
  };
}
