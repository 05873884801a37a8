/**
 * The bench's server process: the real startServer (SQLite file, gateway, API, worker)
 * on loopback, driven over IPC by bench/idle-tunnels.ts. Run with --expose-gc so heap
 * figures are taken after a full collection.
 */
import { readFileSync } from 'node:fs';
import { loadServerConfig } from '@p2pvps/server/config';
import { migrateToLatest, openDatabase, type Db } from '@p2pvps/server/db/database';
import { startServer } from '@p2pvps/server/services/server';

export type ToServer =
  | { type: 'seed'; devices: { deviceId: string; publicKey: string; sshPort: number }[] }
  | { type: 'stats' }
  | { type: 'online' }
  | { type: 'timeline' };

export interface ServerStats {
  online: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** process.cpuUsage() user + system, µs. */
  cpuMicros: number;
}

export type FromServer =
  | { type: 'ready'; gatewayPort: number; hostKey: string; startMs: number; readyAt: number }
  | { type: 'seeded'; ms: number }
  | { type: 'stats'; stats: ServerStats }
  | { type: 'online'; online: number }
  /** Each time the count of online tunnels changed: [epoch ms, online]. */
  | { type: 'timeline'; samples: [number, number][] };

const send = (msg: FromServer) => process.send?.(msg);
process.on('disconnect', () => process.exit(0));

const t0 = performance.now();
const env = JSON.parse(process.env.BENCH_SERVER_ENV ?? '{}') as Record<string, string>;
const config = loadServerConfig([], env);

// Seeding runs in a process of its own before the server starts, so the server's memory
// baseline carries nothing of the 10,000 keys passing through.
if (process.env.BENCH_SEED_ONLY) {
  const db = openDatabase(config.databaseUrl);
  await migrateToLatest(db);
  const msg = await new Promise<ToServer>((resolve) => process.once('message', resolve));
  if (msg.type === 'seed') {
    const s0 = performance.now();
    await seed(db, msg.devices);
    send({ type: 'seeded', ms: performance.now() - s0 });
  }
  await db.destroy();
  process.exit(0);
}

const server = await startServer(config);
const hostKey = readFileSync(`${config.dataDir}/gateway_host_ed25519_key.pub`, 'utf8').trim();

// Only while measuring a restart: the sampler's own work would count as idle CPU otherwise.
const samples: [number, number][] = [];
if (process.env.BENCH_SAMPLE_ONLINE) {
  let last = -1;
  setInterval(() => {
    const online = server.gateway.onlineDeviceIds().length;
    if (online !== last) samples.push([Date.now(), (last = online)]);
  }, 50).unref();
}

process.on('message', (msg: ToServer) => {
  if (msg.type === 'stats') {
    // CPU first: the collection below is the bench's work, not the gateway's.
    const cpu = process.cpuUsage();
    global.gc?.();
    const m = process.memoryUsage();
    const online = server.gateway.onlineDeviceIds().length;
    send({
      type: 'stats',
      stats: { online, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, cpuMicros: cpu.user + cpu.system },
    });
  } else if (msg.type === 'online') {
    send({ type: 'online', online: server.gateway.onlineDeviceIds().length });
  } else if (msg.type === 'timeline') {
    send({ type: 'timeline', samples });
  }
});

send({ type: 'ready', gatewayPort: server.gatewayPort, hostKey, startMs: performance.now() - t0, readyAt: Date.now() });

/** Enrolled devices straight into the table: enrolment is not what this bench measures. */
async function seed(db: Db, devices: { deviceId: string; publicKey: string; sshPort: number }[]): Promise<void> {
  const now = new Date().toISOString();
  const ownerId = 'benchowner';
  await db.transaction().execute(async (tx) => {
    await tx
      .insertInto('users')
      .values({ id: ownerId, email: 'bench@example.org', password_hash: 'x', is_admin: 0, created_at: now })
      .onConflict((oc) => oc.doNothing())
      .execute();
    for (let i = 0; i < devices.length; i += 500) {
      const rows = devices.slice(i, i + 500).map((d) => ({
        id: d.deviceId,
        owner_id: ownerId,
        name: d.deviceId,
        description: '',
        public_key: d.publicKey,
        ssh_port: d.sshPort,
        on_market: 0,
        online: 0,
        enrolled_at: now,
        created_at: now,
      }));
      // Cast: only the columns every schema version has; the rest take their defaults.
      await tx
        .insertInto('devices')
        .values(rows as never)
        .execute();
    }
  });
}
