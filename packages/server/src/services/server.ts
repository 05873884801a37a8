import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { measureThroughput } from '../gateway/tunnel-throughput.ts';
import { join } from 'node:path';
import { timing } from '@p2pvps/protocol/timing';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { percentToBps, type ServerConfig } from '../config.ts';
import client from 'prom-client';
import { addRentalTraffic, listEnrolledDevices, findDevice, liveDeviceIds, markAllOffline, recordTunnel } from '../db/devices-repo.ts';
import { liveTokenIds } from '../db/accounts-repo.ts';
import { EventStreams } from './event-streams.ts';
import { listenForMetrics } from './metrics-listener.ts';
import { findOpenRentalForDevice } from '../db/rentals-repo.ts';
import { resolveWebName, WebRouteCache } from '../domain/devices/web-routing.ts';
import { recordDeviceTunnel } from '../domain/rentals/rental-log.ts';
import { FrontDoors } from '../frontdoor/front-doors.ts';
import { TrafficMeter } from './traffic.ts';
import { serverCertificateFromConfig } from './server-certificate.ts';
import { migrateToLatest, openDatabase } from '../db/database.ts';
import { ensureOperator } from '../domain/accounts/accounts.ts';
import { systemClock, type Clock } from '../domain/clock.ts';
import type { DomainContext } from '../domain/context.ts';
import { TunnelGateway } from '../gateway/tunnel-gateway.ts';
import { buildApi } from './api.ts';
import { DeviceEvents } from './device-events.ts';
import { UserEvents } from './user-events.ts';
import { endExpiredRentals } from '../domain/rentals/rentals.ts';
import { meterTick, settleRental } from '../domain/money/metering.ts';
import { PeriodicWorker } from './periodic-worker.ts';
import { reliabilityTick } from '../domain/devices/reliability-record.ts';
import { ReliabilityTicks } from '../domain/devices/reliability-ticks.ts';
import { housekeep } from './housekeeping.ts';
import { loadSecretBox, secretBoxKeyFile } from '../secret-box.ts';
import { sealLegacyPasswords } from '../domain/rentals/rental-passwords.ts';
import { PaymentRails } from '../payments/payment-rails.ts';
import { railSettings } from '../payments/rail-options.ts';
import { MailQueue, describeSmtpUrl, smtpTransport } from './mail-queue.ts';
import {
  queueBalanceNotice,
  queueDeviceOfflineNotices,
  queueEndingSoonNotices,
  queueRentalActive,
  queueRentalEnded,
} from '../domain/mail/notices.ts';

export interface RunningServer {
  apiUrl: string;
  gatewayPort: number;
  httpsPort: number;
  /** The separate metrics listener's port, when --metrics-port is set. */
  metricsPort?: number;
  ctx: DomainContext;
  gateway: TunnelGateway;
  /** The mail queue: SMTP, or the outbox when none is configured. */
  mail: MailQueue;
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
 * API and the expiry and metering workers. Each part is its own module and could run on its own.
 */
export async function startServer(
  config: ServerConfig,
  options: { clock?: Clock; logStream?: { write(line: string): void } } = {},
): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  // The certificate's own log lines go through the API's logger, which exists before any is written.
  const tls = serverCertificateFromConfig(config, clock, {
    info: (fields, message) => api.log.info(fields, message),
    warn: (fields, message) => api.log.warn(fields, message),
  });
  // Certificate files the operator named must be there before anything starts.
  tls?.certificate.loadFilesOrThrow();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // The data dir holds the database, the gateway's host key and the operator's password: ours alone.
  chmodSync(config.dataDir, 0o700);
  const db = openDatabase(config.databaseUrl);
  try {
    await migrateToLatest(db);
  } catch (err) {
    // A PostgreSQL pool's open connection would keep the process alive after the error.
    await db.destroy();
    throw err;
  }
  await markAllOffline(db);
  const hostKey = loadHostKey(config.dataDir);
  const secretBox = loadSecretBox(config.dataDir);
  const events = new DeviceEvents();
  const userEvents = new UserEvents(db);

  let gateway: TunnelGateway | undefined;
  let mail: MailQueue | undefined;
  const webRoutes = new WebRouteCache((host) => resolveWebName(ctx, host));
  const ctx: DomainContext = {
    db,
    clock,
    secretBox,
    settings: {
      serverName: config.serverName,
      publicUrl: config.publicUrl,
      currency: config.currency,
      sshHost: config.sshHost,
      sshPortRange: config.sshPortRange,
      webDomain: config.webDomain,
      httpPort: config.httpPort,
      httpsPort: config.httpsPort,
      feeBps: percentToBps(config.feePercent),
      rentMinimumHours: config.rentMinimumHours,
      balanceGraceMs: config.balanceGraceMs,
      deviceLostGraceMs: timing.deviceLostGraceMs,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      enrolmentTokenTtlMs: timing.enrolmentTokenTtlMs,
      maxPendingDevices: config.maxPendingDevices,
      benchmark: {
        intervalMs: config.benchmarkIntervalHours * 3_600_000,
        tolerancePercent: config.benchmarkTolerancePercent,
        memoryProbeMaxBytes: config.benchmarkMemoryProbeMib * 2 ** 20,
        challengeTtlMs: timing.benchmarkChallengeTtlMs,
      },
    },
    // A rental starting or ending: tell the agent, and open or close the device's public SSH port.
    notifyDevice: (deviceId, reason) => {
      webRoutes.forget();
      events.notify(deviceId, reason);
      userEvents.deviceChanged(deviceId);
      void gateway?.refresh(deviceId);
    },
    mailQueued: () => mail?.kick(),
    // Mails are queued in the background: neither a request nor the meter waits for them.
    notifyUser: (userId, event, rentalId) => mail?.queue(queueBalanceNotice(ctx, userId, event, rentalId)),
    notifyRental: (rentalId, event) => {
      if (event === 'ended') traffic.rentalEnded(rentalId);
      mail?.queue(event === 'active' ? queueRentalActive(ctx, rentalId) : queueRentalEnded(ctx, rentalId));
    },
    tunnels: {
      isOnline: (id) => gateway?.isOnline(id) ?? false,
      measureThroughput: async (id, nonce) => {
        const channel = await gateway?.openBenchmarkChannel(id).catch(() => undefined);
        return channel ? measureThroughput(channel, nonce) : null;
      },
      disconnect: (id) => {
        webRoutes.forget();
        gateway?.disconnect(id);
      },
    },
  };

  // Passwords of rentals made before they were sealed: sealed now, before anyone is answered.
  const sealed = await sealLegacyPasswords(ctx);
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'p2pvps_server_' });
  const traffic = new TrafficMeter(registry);
  const handshakes = new client.Histogram({
    name: 'p2pvps_tunnel_handshake_seconds',
    help: 'Time from a device connection to its login on the gateway (key exchange and authentication).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new client.Gauge({
    name: 'p2pvps_tunnels_up',
    help: 'Devices whose tunnel is up (online).',
    registers: [registry],
    collect() {
      this.set(gateway?.onlineDeviceIds().length ?? 0);
    },
  });
  new client.Gauge({
    name: 'p2pvps_tunnel_connections',
    help: 'Device SSH connections to the gateway, logged in or in the handshake.',
    registers: [registry],
    collect() {
      this.set(gateway?.connectionCount() ?? 0);
    },
  });
  if (tls) {
    new client.Gauge({
      name: 'p2pvps_tls_certificate_expiry_timestamp_seconds',
      help: "When the certificate for the server's own name expires (Unix time); alert well before it.",
      registers: [registry],
      collect() {
        const at = tls.certificate.expiresAt();
        if (at) this.set(at.getTime() / 1000);
      },
    });
  }
  new client.Gauge({
    name: 'p2pvps_gateway_refused_connections',
    help: 'Device connections the gateway refused at accept since it started, by reason (full, early_drop, per_source, penalised).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const stats = gateway?.admissionStats();
      this.set({ reason: 'full' }, stats?.refusedFull ?? 0);
      this.set({ reason: 'early_drop' }, stats?.refusedEarlyDrop ?? 0);
      this.set({ reason: 'per_source' }, stats?.refusedPerSource ?? 0);
      this.set({ reason: 'penalised' }, stats?.refusedPenalised ?? 0);
    },
  });
  const gatewayRef = { host: config.sshHost, port: config.gatewayPort, hostKey: hostKey.publicKey };
  // The rails log through the API's logger; none logs before it is started below.
  const rails = new PaymentRails(railSettings(config), {
    db,
    clock,
    currency: config.currency,
    log: {
      info: (fields, message) => api.log.info(fields, message),
      warn: (fields, message) => api.log.warn(fields, message),
      error: (fields, message) => api.log.error(fields, message),
    },
  });
  const eventStreams = new EventStreams({
    limits: { total: config.maxEventStreams, perUser: 5, perDevice: 2 },
    liveTokenIds: (ids) => liveTokenIds(db, ids, clock.now().toISOString()),
    liveDeviceIds: (ids) => liveDeviceIds(db, ids),
    // Logging out ends the page's stream within this; one indexed lookup of every open stream's token.
    recheckEveryMs: 2_000,
    onError: (err) => api.log.warn({ err }, 'could not check the event streams'),
  });
  const metrics = async () => {
    traffic.collect();
    return { contentType: registry.contentType, body: await registry.metrics() };
  };
  const api = buildApi({
    userEvents,
    eventStreams,
    ctx,
    events,
    gateway: gatewayRef,
    logLevel: config.logLevel,
    timeouts: { headMs: config.headTimeoutMs, requestMs: config.requestTimeoutMs, idleMs: config.idleTimeoutMs },
    ...(options.logStream ? { logStream: options.logStream } : {}),
    mail: config.smtpUrl ? `SMTP ${describeSmtpUrl(config.smtpUrl)} as ${config.mailFrom}` : 'outbox (no SMTP configured)',
    mailDelivery: config.smtpUrl ? 'smtp' : 'outbox',
    authLimits: {
      loginsPerAddressPerMinute: config.loginsPerAddressPerMinute,
      loginFailuresPerAccountPerHour: config.loginFailuresPerAccountPerHour,
      signupsPerAddressPerHour: config.signupsPerAddressPerHour,
    },
    rails,
    ...(tls?.issuer ? { acmeChallenge: (token: string) => tls.issuer?.keyAuthorization(token) } : {}),
    metrics,
  });
  const log = api.log;
  mail = new MailQueue({
    db,
    clock,
    transport: config.smtpUrl ? smtpTransport(config.smtpUrl) : null,
    from: config.mailFrom,
    log: {
      info: (fields, message) => log.info(fields, message),
      warn: (fields, message) => log.warn(fields, message),
      error: (fields, message) => log.error(fields, message),
    },
  });
  const mailQueue = mail;
  if (config.smtpUrl) log.info(`mail: notices are sent through ${describeSmtpUrl(config.smtpUrl)} as ${config.mailFrom}`);
  else log.info('mail: no SMTP server configured (--smtp-url); notices go to the outbox: p2pvps admin outbox, or GET /api/v1/admin/outbox');
  if (sealed)
    log.info(
      `sealed the passwords of ${sealed} rentals made before passwords were kept sealed (key: ${join(config.dataDir, secretBoxKeyFile)})`,
    );
  try {
    await rails.start();
  } catch (err) {
    await api.close();
    await db.destroy();
    throw err;
  }
  const setOnline = (deviceId: string, online: boolean) =>
    recordTunnel(db, deviceId, online, clock.now().toISOString())
      // The rental's log (rental-log.ts): the operator's facts when its renter disputes it.
      .then(() => recordDeviceTunnel(db, deviceId, online, clock.now().toISOString()))
      .then(() => userEvents.deviceChanged(deviceId))
      .catch((err) => log.error({ err }, 'could not record tunnel state'));

  const settleDevice = (deviceId: string, wasOnline: boolean) =>
    findOpenRentalForDevice(db, deviceId)
      .then((rental) => (rental?.state === 'active' ? settleRental(ctx, rental.id, wasOnline) : 0n))
      .catch((err) => log.error({ err, deviceId }, 'could not settle the rental'));

  gateway = new TunnelGateway({
    hostKey: hostKey.privateKey,
    publicBindHost: config.publicBindHost,
    lookupDevice: async (deviceId) => {
      const d = await findDevice(db, deviceId);
      if (!d?.public_key || !d.ssh_port) return null;
      // The public SSH port listens only while a renter may log in: an idle device costs no socket.
      const rental = await findOpenRentalForDevice(db, deviceId);
      const publicPortOpen = rental?.state === 'requested' || rental?.state === 'active';
      return { deviceId: d.id, publicKey: d.public_key, sshPort: Number(d.ssh_port), publicPortOpen, rentalId: rental?.id ?? null };
    },
    // The meter runs only while the device is connected: going down bills up to now;
    // coming back skips the time it was away.
    onTunnelUp: (id) => {
      void settleDevice(id, false);
      void setOnline(id, true);
    },
    onTunnelDown: (id) => {
      void settleDevice(id, true);
      void setOnline(id, false);
    },
    log,
    keepaliveIntervalMs: timing.tunnelKeepaliveMs,
    keepaliveCountMax: timing.tunnelKeepaliveCountMax,
    maxConnectionsPerDevice: config.maxConnectionsPerDevice,
    maxStartups: config.gatewayMaxStartups,
    maxStartupsPerSource: config.gatewayMaxStartupsPerSource,
    versionTimeoutMs: config.gatewayVersionTimeoutMs,
    penalties: config.gatewayPenalties,
    maxConnectionsPerKey: config.gatewayMaxConnectionsPerKey,
    onHandshake: (ms) => handshakes.observe(ms / 1000),
    // The policy lookup that admitted the visitor already names the rental to count against.
    onPublicConnection: (device, socket) => traffic.track(socket, device.deviceId, device.rentalId ?? null, 'ssh'),
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

  // The API does not listen itself: the HTTP front door hands it the connections for the server's own name.
  await api.ready();
  const doors = new FrontDoors({
    resolve: (host) => webRoutes.resolve(host),
    openChannel: (deviceId, port, address, remotePort) => (gateway as TunnelGateway).openWebChannel(deviceId, port, address, remotePort),
    apiServer: api.server,
    serverTls: () => tls?.certificate.secureContext() ?? null,
    traffic,
    registry,
    log,
    limits: {
      maxHeadBytes: 16 * 1024,
      headTimeoutMs: config.headTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxConnections: config.maxConnections,
      maxConnectionsPerDevice: config.maxConnectionsPerDevice,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      maxConnectionsPerDeviceAddress: config.maxConnectionsPerDeviceAddress,
      minBodyBytes: Math.ceil((config.minBodyRate * config.headTimeoutMs) / 1000),
    },
  });
  const port = await listen(doors.http, config.httpPort, config.httpHost);
  const httpsPort = await listen(doors.https, config.httpsPort, config.httpHost);
  const metricsListener =
    config.metricsPort === undefined ? undefined : await listenForMetrics(metrics, config.metricsPort, config.metricsHost);
  const saveTraffic = async () => {
    const pending = traffic.drainUnsaved();
    try {
      for (const [rentalId, bytes] of pending) await addRentalTraffic(db, rentalId, bytes.in, bytes.out);
    } catch (err) {
      traffic.restoreUnsaved(pending);
      log.warn({ err }, 'could not save traffic counters');
    }
  };
  const trafficTimer = setInterval(() => void saveTraffic(), 30_000);
  trafficTimer.unref();
  const apiUrl = `http://${config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost}:${port}`;

  const expiry = new PeriodicWorker(
    config.expiryCheckIntervalMs,
    () => endExpiredRentals(ctx),
    (err) => log.error({ err }, 'expiry worker failed'),
  );
  const meter = new PeriodicWorker(
    config.meterIntervalMs,
    () => meterTick(ctx),
    (err) => log.error({ err }, 'metering failed'),
  );
  // Reliability: each tick counts the time since the last into devices' days (reliability-ticks.ts).
  const reliabilityTicks = new ReliabilityTicks(config.reliabilityIntervalMs);
  const reliability = new PeriodicWorker(
    config.reliabilityIntervalMs,
    () => {
      const tick = reliabilityTicks.next(clock.now());
      return reliabilityTick(ctx, tick.elapsedMs, tick.refreshScores);
    },
    (err) => log.error({ err }, 'reliability worker failed'),
  );
  // Notices nobody reports as they happen: a rental about to end, a device gone for a while.
  const startedAt = clock.now();
  const notices = new PeriodicWorker(
    config.expiryCheckIntervalMs,
    async () => {
      const queued = (await queueEndingSoonNotices(ctx)) + (await queueDeviceOfflineNotices(ctx, startedAt));
      if (queued > 0) mailQueue.kick();
    },
    (err) => log.error({ err }, 'notice worker failed'),
  );
  // Re-reads the certificate files, or orders and renews over ACME once the HTTP door listens for the challenge.
  const certificateCheck = new PeriodicWorker(
    config.tlsCheckIntervalMs,
    async () => tls?.certificate.check(),
    (err) => log.error({ err }, 'certificate check failed'),
  );
  if (
    new URL(config.publicUrl).protocol === 'http:' &&
    !/^(127\.|localhost$|\[::1\]$)|\.localhost$/.test(new URL(config.publicUrl).hostname)
  ) {
    log.warn(
      `the public URL ${config.publicUrl} is plain http: passwords, tokens and renters' credentials cross the network in clear; ` +
        'use an https public URL with --tls-cert/--tls-key or --acme-directory-url',
    );
  }
  if (tls) {
    void tls.certificate.check();
    certificateCheck.start();
  }
  // Housekeeping: devices never enrolled before their token expired, sessions expired or left unused.
  const housekeeping = new PeriodicWorker(
    config.expiryCheckIntervalMs,
    () => housekeep(ctx),
    (err) => log.error({ err }, 'housekeeping failed'),
  );
  expiry.start();
  meter.start();
  reliability.start();
  housekeeping.start();
  notices.start();
  mailQueue.start();
  const enrolled = (await listEnrolledDevices(db)).length;
  log.info(
    `p2pvps server "${config.serverName}": API ${apiUrl}, HTTPS front door :${httpsPort}, device gateway ${config.gatewayHost}:${gatewayPort}, ` +
      `devices on *.${config.webDomain}, ${enrolled} enrolled device(s)` +
      (metricsListener ? `, metrics on http://${config.metricsHost}:${metricsListener.port}/metrics` : ''),
  );

  let closing: Promise<void> | undefined;
  return {
    apiUrl,
    gatewayPort,
    httpsPort,
    ...(metricsListener ? { metricsPort: metricsListener.port } : {}),
    ctx,
    gateway,
    mail: mailQueue,
    close: () =>
      (closing ??= (async () => {
        await expiry.close();
        await meter.close();
        await reliability.close();
        await notices.close();
        await certificateCheck.close();
        await tls?.certificate.close();
        await housekeeping.close();
        clearInterval(trafficTimer);
        await doors.close();
        await metricsListener?.close();
        await gateway.close();
        await api.close();
        await rails.close();
        await mailQueue.close();
        await saveTraffic();
        await db.destroy();
      })()),
  };
}

function listen(server: import('node:net').Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
