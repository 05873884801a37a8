import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { timing } from '@p2pvps/protocol/timing';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import type { ServerConfig } from '../config.ts';
import { listEnrolledDevices, findDevice, markAllOffline, updateDevice } from '../db/devices-repo.ts';
import { migrateToLatest, openDatabase } from '../db/database.ts';
import { ensureOperator } from '../domain/accounts/accounts.ts';
import { systemClock, type Clock } from '../domain/clock.ts';
import type { DomainContext } from '../domain/context.ts';
import { TunnelGateway } from '../gateway/tunnel-gateway.ts';
import { buildApi } from './api.ts';
import { DeviceEvents } from './device-events.ts';
import { ExpiryWorker } from './expiry-worker.ts';

export interface RunningServer {
  apiUrl: string;
  gatewayPort: number;
  ctx: DomainContext;
  gateway: TunnelGateway;
  close(): Promise<void>;
}

/** The gateway's host key lives in the data dir, so devices can pin it across restarts. */
function loadHostKey(dataDir: string): { privateKey: string; publicKey: string } {
  const path = join(dataDir, 'gateway_host_ed25519_key');
  if (!existsSync(path)) {
    const pair = generateEd25519KeyPair('p2pvps-gateway');
    writeFileSync(path, pair.private, { mode: 0o600 });
    writeFileSync(`${path}.pub`, `${pair.public}\n`);
  }
  return { privateKey: readFileSync(path, 'utf8'), publicKey: readFileSync(`${path}.pub`, 'utf8').trim() };
}

/**
 * Starts every part of the marketplace in one process: database, tunnel gateway, HTTP
 * API and the expiry worker. Each part is its own module and could run on its own.
 */
export async function startServer(config: ServerConfig, options: { clock?: Clock } = {}): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(config.databaseUrl);
  await migrateToLatest(db);
  await markAllOffline(db);
  const hostKey = loadHostKey(config.dataDir);
  const events = new DeviceEvents();
  const clock = options.clock ?? systemClock;

  let gateway: TunnelGateway | undefined;
  const ctx: DomainContext = {
    db,
    clock,
    settings: {
      serverName: config.serverName,
      publicUrl: config.publicUrl,
      currency: config.currency,
      sshHost: config.sshHost,
      sshPortRange: config.sshPortRange,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      enrolmentTokenTtlMs: timing.enrolmentTokenTtlMs,
    },
    notifyDevice: (deviceId, reason) => events.notify(deviceId, reason),
    tunnels: { isOnline: (id) => gateway?.isOnline(id) ?? false, disconnect: (id) => gateway?.disconnect(id) },
  };

  const gatewayRef = { host: config.sshHost, port: config.gatewayPort, hostKey: hostKey.publicKey };
  const api = buildApi({ ctx, events, gateway: gatewayRef, logLevel: config.logLevel });
  const log = api.log;
  const setOnline = (deviceId: string, online: boolean) =>
    updateDevice(db, deviceId, { online: online ? 1 : 0, last_seen_at: clock.now().toISOString() }).catch((err) =>
      log.error({ err }, 'could not record tunnel state'),
    );

  gateway = new TunnelGateway({
    hostKey: hostKey.privateKey,
    publicBindHost: config.publicBindHost,
    lookupDevice: async (deviceId) => {
      const d = await findDevice(db, deviceId);
      return d?.public_key && d.ssh_port ? { deviceId: d.id, publicKey: d.public_key, sshPort: Number(d.ssh_port) } : null;
    },
    onTunnelUp: (id) => void setOnline(id, true),
    onTunnelDown: (id) => void setOnline(id, false),
    log,
    keepaliveIntervalMs: timing.tunnelKeepaliveMs,
    keepaliveCountMax: timing.tunnelKeepaliveCountMax,
  });
  const gatewayPort = await gateway.listen(config.gatewayPort, config.gatewayHost);
  gatewayRef.port = gatewayPort;

  const operator = await ensureOperator(ctx, config.adminEmail);
  if (operator) {
    const file = join(config.dataDir, 'operator-password');
    writeFileSync(file, `${operator.password}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    log.info(`operator account ${operator.email} created; its password is in ${file} (readable by this user only)`);
  }

  await api.listen({ host: config.httpHost, port: config.httpPort });
  const address = api.server.address();
  const port = typeof address === 'object' && address ? address.port : config.httpPort;
  const apiUrl = `http://${config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost}:${port}`;

  const worker = new ExpiryWorker(ctx, config.expiryCheckIntervalMs, (err) => log.error({ err }, 'expiry worker failed'));
  worker.start();
  const enrolled = (await listEnrolledDevices(db)).length;
  log.info(
    `p2pvps server "${config.serverName}": API ${apiUrl}, device gateway ${config.gatewayHost}:${gatewayPort}, ${enrolled} enrolled device(s)`,
  );

  let closing: Promise<void> | undefined;
  return {
    apiUrl,
    gatewayPort,
    ctx,
    gateway,
    close: () =>
      (closing ??= (async () => {
        await worker.close();
        await gateway.close();
        await api.close();
        await db.destroy();
      })()),
  };
}
