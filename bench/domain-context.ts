/**
 * For the benchmarks that drive the server's domain code directly (metering.ts,
 * reliability.ts): a migrated SQLite file in a temp dir (or a fresh PostgreSQL database when
 * P2PVPS_TEST_DATABASE names a server: scripts/postgres.sh) and a domain context on it, with
 * the server's defaults and every device's tunnel up.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateToLatest, openDatabase } from '../packages/server/src/db/database.ts';
import type { ManualClock } from '../packages/server/src/domain/clock.ts';
import type { DomainContext } from '../packages/server/src/domain/context.ts';
import { secretBox } from '../packages/server/src/secret-box.ts';
import { createTestDatabase } from '../packages/server/src/testing/test-database.ts';

export async function benchDomain(
  name: string,
  devices: number,
  clock: ManualClock,
): Promise<{ ctx: DomainContext; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `p2pvps-bench-${name}-`));
  const database = await createTestDatabase(`sqlite:${join(dir, 'p2pvps.sqlite')}`);
  const db = openDatabase(database.url);
  await migrateToLatest(db);
  const ctx: DomainContext = {
    db,
    clock,
    secretBox: secretBox(randomBytes(32)),
    settings: {
      serverName: 'bench',
      publicUrl: 'http://127.0.0.1:8080',
      currency: 'USD',
      sshHost: '127.0.0.1',
      sshPortRange: [20000, 20000 + devices],
      webDomain: 'vps.localhost',
      httpPort: 8080,
      httpsPort: 8443,
      heartbeatIntervalMs: 600_000,
      feeBps: 1000,
      rentMinimumHours: 1,
      balanceGraceMs: 600_000,
      deviceLostGraceMs: 1_800_000,
      enrolmentTokenTtlMs: 86_400_000,
    },
    notifyDevice: () => {},
    tunnels: { isOnline: () => true, disconnect: () => {} },
  };
  const close = async () => {
    await db.destroy();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { ctx, close };
}
