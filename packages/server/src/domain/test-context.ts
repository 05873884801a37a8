import type { DesiredRental } from '@p2pvps/protocol/agent-schemas';
import { timing } from '@p2pvps/protocol/timing';
import { migrateToLatest, openDatabase } from '../db/database.ts';
import { signup } from './accounts/accounts.ts';
import { ManualClock } from './clock.ts';
import { StorageSecrets } from './rentals/storage-secrets.ts';
import { grantCredit } from './money/credit.ts';
import type { DomainContext } from './context.ts';
import { addDevice, registerDevice } from './devices/devices.ts';
import { syncDevice } from './rentals/agent-sync.ts';
import { rent } from './rentals/rentals.ts';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { randomBytes } from 'node:crypto';
import { secretBox } from '../secret-box.ts';
import { createTestDatabase } from '../testing/test-database.ts';

/**
 * A domain context on a real database with a manual clock, for tests of the rules: the one
 * `databaseUrl` names (shared with server processes), else in-memory SQLite, or a fresh
 * PostgreSQL database when P2PVPS_TEST_DATABASE is set (testing/test-database.ts). The
 * tunnel view is the one thing injected: tests say which devices are online.
 */
export async function createTestContext(portRange: readonly [number, number] = [20000, 20009], databaseUrl?: string) {
  const database = databaseUrl ? { url: databaseUrl, drop: async () => {} } : await createTestDatabase('sqlite::memory:');
  const db = openDatabase(database.url);
  await migrateToLatest(db);
  const clock = new ManualClock();
  const online = new Set<string>();
  const nudges: { deviceId: string; reason: string; rental?: DesiredRental }[] = [];
  const ctx: DomainContext = {
    db,
    clock,
    secretBox: secretBox(randomBytes(32)),
    settings: {
      serverName: 'test',
      publicUrl: 'http://127.0.0.1:8080',
      currency: 'USD',
      sshHost: 'vps.example.org',
      sshPortRange: portRange,
      webDomain: 'vps.example.org',
      httpPort: 80,
      httpsPort: 443,
      feeBps: 1000,
      rentMinimumHours: 1,
      balanceGraceMs: 10 * 60_000,
      deviceLostGraceMs: timing.deviceLostGraceMs,
      heartbeatIntervalMs: 600_000,
      enrolmentTokenTtlMs: 24 * 3_600_000,
      // A cheap hash: the rules are the same, and the suite creates many accounts.
      passwordCost: { log2N: 10, r: 8, p: 1 },
    },
    storageSecrets: new StorageSecrets(clock),
    notifyDevice: (deviceId, reason, rental) => void nudges.push({ deviceId, reason, ...(rental ? { rental } : {}) }),
    tunnels: { isOnline: (id) => online.has(id), disconnect: (id) => void online.delete(id) },
  };
  let n = 0;
  /** A user with `credit` on their balance (1,000 USD unless said otherwise), so renting works. */
  const createUser = async (role = 'user', credit = 1_000_000_000n) => {
    const { user } = await signup(ctx, `${role}${++n}@example.org`, 'correct horse battery');
    // As if they opened the link in the verification mail.
    await db.updateTable('users').set({ email_verified_at: clock.now().toISOString() }).where('id', '=', user.id).execute();
    if (credit > 0n) await grantCredit(ctx, user.id, credit, 'test credit');
    return user;
  };
  /** An enrolled, online, priced device on the market. */
  const createListedDevice = async (ownerId: string) => {
    const grant = await addDevice(ctx, ownerId, `pi-${++n}`, '');
    const hardware = { cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 4 * 2 ** 30, diskBytes: 32 * 2 ** 30, arch: 'arm64' };
    await registerDevice(
      ctx,
      { enrolmentToken: grant.enrolmentToken, publicKey: generateEd25519KeyPair('d').public, hardware, agentVersion: 't' },
      { host: 'h', port: 1, hostKey: 'k' },
    );
    await ctx.db
      .updateTable('devices')
      .set({ price_per_hour_micros: 10_000, on_market: 1, online: 1 })
      .where('id', '=', grant.device.id)
      .execute();
    online.add(grant.device.id);
    return grant.device.id;
  };
  /** An owner with one listed device, and a renter. */
  const createMarket = async () => {
    const owner = await createUser('owner');
    const renter = await createUser('renter');
    return { owner, renter, deviceId: await createListedDevice(owner.id) };
  };
  /** A market whose device the renter has rented, with the agent reporting the container ready. */
  const createRunningRental = async () => {
    const market = await createMarket();
    const rental = await rent(ctx, market.renter.id, { deviceId: market.deviceId });
    await syncDevice(ctx, market.deviceId, { container: { rentalId: rental.id, state: 'ready' } });
    return { ...market, rental };
  };
  return {
    ctx,
    /** Where the database is, for a test that opens more connections to it (PostgreSQL; in-memory SQLite has one). */
    databaseUrl: database.url,
    clock,
    online,
    nudges,
    createUser,
    createListedDevice,
    createMarket,
    createRunningRental,
    close: async () => {
      await db.destroy();
      await database.drop();
    },
  };
}
