import { measureThroughput } from '../gateway/tunnel-throughput.ts';
import { join } from 'node:path';
import type { ServerConfig } from '../config.ts';
import { loadHostKey, prepareDataDir, writeOperatorPassword } from './data-dir.ts';
import { domainSettings } from './domain-settings.ts';
import { listEnrolledDevices, markAllOffline } from '../db/devices-repo.ts';
import { saveTrafficCounters } from './traffic.ts';
import { liveTokenIds } from '../db/accounts-repo.ts';
import { EventStreams } from '../events/event-streams.ts';
import { StaticNodeDirectory } from '../cluster/node-directory.ts';
import { listenForMetrics } from './metrics-listener.ts';
import { resolveWebName, WebRouteCache } from '../domain/devices/web-routing.ts';
import { FrontDoors } from '../frontdoor/front-doors.ts';
import { leaderGauge, serverMetrics } from './server-metrics.ts';
import { serverWorkers } from './workers.ts';
import { serverCertificateFromConfig, warnIfPlainHttp } from './server-certificate.ts';
import { listen } from './listen.ts';
import { migrateToLatest, openDatabase } from '../db/database.ts';
import { ensureOperator } from '../domain/accounts/accounts.ts';
import { systemClock, type Clock } from '../domain/clock.ts';
import type { DomainContext } from '../domain/context.ts';
import type { TunnelGateway } from '../gateway/tunnel-gateway.ts';
import { devicePresence, serverGateway } from './server-gateway.ts';
import { ClusterNode, liveSince } from '../cluster/cluster-node.ts';
import { clusterSettings } from '../cluster/cluster-options.ts';
import { buildApi } from './api.ts';
import { nodeEvents } from '../cluster/node-events.ts';
import { nudgeDevice, type DeviceEvents } from '../events/device-events.ts';
import { UserEvents } from '../events/user-events.ts';
import { LeaderLease } from '../cluster/leader-lease.ts';
import { nodeIdentity } from '../cluster/node-identity.ts';
import { loadSecretBox, secretBoxKeyFile } from '../secret-box.ts';
import { StorageSecrets } from '../domain/rentals/storage-secrets.ts';
import { loadAppCatalogue } from './app-catalogue.ts';
import { sealLegacyPasswords } from '../domain/rentals/rental-passwords.ts';
import { PaymentRails } from '../payments/payment-rails.ts';
import { railSettings } from '../payments/rail-options.ts';
import { MailQueue, describeSmtpUrl, smtpTransport } from './mail-queue.ts';
import { startFederation, type Federation } from '../federation/federation-service.ts';
import { queueBalanceNotice, queueRentalActive, queueRentalEnded } from '../domain/mail/notices.ts';

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
  /** Federation with peer servers: identity, peers, listing sync (docs/federation.md). */
  federation: Federation;
  close(): Promise<void>;
}

/**
 * Starts every part of the marketplace in one process: database, tunnel gateway, HTTP
 * API and the expiry and metering workers. Each part is its own module and could run on its own.
 */
export async function startServer(
  config: ServerConfig,
  options: {
    clock?: Clock;
    logStream?: { write(line: string): void };
    /** Runs inside each metering batch's transaction before it commits (testing/cluster-node.ts holds it open there). */
    beforeMeterCommit?: () => Promise<void>;
  } = {},
): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  // The certificate's own log lines go through the API's logger, which exists before any is written.
  const tls = serverCertificateFromConfig(config, clock, {
    info: (fields, message) => api.log.info(fields, message),
    warn: (fields, message) => api.log.warn(fields, message),
  });
  // Certificate files the operator named must be there before anything starts.
  tls?.certificate.loadFilesOrThrow();
  // A recipe that does not fit the format stops the start here, naming the file and field.
  const appCatalogue = loadAppCatalogue(config.appPackagesDir);
  prepareDataDir(config.dataDir);
  const db = openDatabase(config.databaseUrl);
  try {
    await migrateToLatest(db);
  } catch (err) {
    // A PostgreSQL pool's open connection would keep the process alive after the error.
    await db.destroy();
    throw err;
  }
  // Cluster: devices whose tunnel another live node holds stay online.
  await markAllOffline(db, config.nodeLinkListen ? { liveSince: liveSince(clock.now(), config.nodeHeartbeatMs) } : undefined);
  const hostKey = loadHostKey(config.dataDir);
  const secretBox = loadSecretBox(config.dataDir);
  // On PostgreSQL every node of a cluster hears these (cluster/node-events.ts).
  const buses = await nodeEvents(config.databaseUrl, (level, msg) => log[level](msg));
  const events: DeviceEvents = buses.devices;
  const userEvents = new UserEvents(buses.users, db);

  let gateway: TunnelGateway | undefined;
  // Cluster: set when this server is one node of several (--node-link-listen); cluster/cluster-node.ts.
  let cluster: ClusterNode | undefined;
  // Set once the front doors exist; they keep warm channels per device and rental, forgotten with the routes.
  let frontDoors: FrontDoors | undefined;
  let mail: MailQueue | undefined;
  // A name no device of ours has may be a backed-up peer's running rental (federation/backup-serving.ts).
  const webRoutes = new WebRouteCache(async (host) => {
    const route = await resolveWebName(ctx, host);
    const suffix = `.${ctx.settings.webDomain}`;
    const label = host?.endsWith(suffix) ? host.slice(0, -suffix.length) : '';
    const backup =
      route.kind === 'none' && route.reason === 'unknown_name' && /^[a-z0-9-]+$/.test(label)
        ? await federation.backups.serving.webRoute(label)
        : null;
    return backup ? { kind: 'device', ...backup } : route;
  });
  // Every node, this one included, hears that a device's rentals changed.
  buses.changes.subscribe('devices', (deviceId) => {
    webRoutes.forget();
    frontDoors?.forgetDevice(deviceId);
    void gateway?.refresh(deviceId);
    cluster?.rentalsChanged();
  });
  const ctx: DomainContext = {
    db,
    clock,
    appCatalogue,
    secretBox,
    settings: domainSettings(config),
    storageSecrets: new StorageSecrets(clock),
    // A rental starting or ending: tell the agent, and on every node open or close the
    // device's public SSH port and forget its web routes (deviceChanged, below).
    notifyDevice: (deviceId, reason, rental) => {
      nudgeDevice(events, deviceId, reason, rental, clock.now());
      userEvents.deviceChanged(deviceId);
      buses.changes.publish('devices', deviceId);
    },
    mailQueued: () => mail?.kick(),
    // Mails are queued in the background: neither a request nor the meter waits for them.
    notifyUser: (userId, event, rentalId) => mail?.queue(queueBalanceNotice(ctx, userId, event, rentalId)),
    notifyRental: (rentalId, event) => {
      if (event === 'ended') traffic.rentalEnded(rentalId);
      mail?.queue(event === 'active' ? queueRentalActive(ctx, rentalId) : queueRentalEnded(ctx, rentalId));
    },
    tunnels: {
      isOnline: (id) => (cluster ? cluster.isOnline(id) : (gateway?.isOnline(id) ?? false)),
      measureThroughput: async (id, nonce) => {
        const channel = await gateway?.openBenchmarkChannel(id).catch(() => undefined);
        return channel ? measureThroughput(channel, nonce) : null;
      },
      disconnect: (id) => {
        webRoutes.forget();
        frontDoors?.forgetDevice(id);
        if (cluster) cluster.disconnect(id);
        else gateway?.disconnect(id);
      },
    },
  };

  // Passwords of rentals made before they were sealed: sealed now, before anyone is answered.
  const sealed = await sealLegacyPasswords(ctx);
  const { registry, traffic, handshakes } = serverMetrics({
    gateway: () => gateway,
    ...(tls ? { certificateExpiry: () => tls.certificate.expiresAt() } : {}),
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
    // The chain watchers poll only on the node leading the periodic work (the lease below).
    mayPoll: () => leader.isLeader(),
  });
  const eventStreams = new EventStreams({
    limits: { total: config.maxEventStreams, perUser: 5 },
    liveTokenIds: (ids) => liveTokenIds(db, ids, clock.now().toISOString()),
    // Logging out ends the page's stream within this; one indexed lookup of every open stream's token.
    recheckEveryMs: 2_000,
    onError: (err) => api.log.warn({ err }, 'could not check the event streams'),
  });
  const metrics = async () => {
    traffic.collect();
    return { contentType: registry.contentType, body: await registry.metrics() };
  };
  // Federation: our signing key (one for every node) and peers; the leading node pushes and pulls.
  const federation = await startFederation(ctx, config, {
    mayRun: () => leader.isLeader(),
    bus: buses.changes,
    log: { warn: (fields, message) => log.warn(fields, message) },
    gateway: () => gatewayRef,
  }).catch(async (err: unknown) => {
    // Refused (another node's secret-box.key): the buses' and the pool's connections would keep the process alive.
    await Promise.all([buses.close(), db.destroy()]);
    throw err;
  });
  const api = buildApi({
    userEvents,
    eventStreams,
    ctx,
    gateway: gatewayRef,
    nodes: new StaticNodeDirectory(config.clusterNodes),
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
    federation,
  });
  const log = api.log;
  mail = new MailQueue({
    db,
    clock,
    transport: config.smtpUrl ? smtpTransport(config.smtpUrl) : null,
    from: config.mailFrom,
    mayDeliver: () => leader.isLeader(),
    log: {
      info: (fields, message) => log.info(fields, message),
      warn: (fields, message) => log.warn(fields, message),
      error: (fields, message) => log.error(fields, message),
    },
  });
  const mailQueue = mail;
  // Cluster: the periodic work runs only on the node holding this lease; a lone server holds it from its start.
  const nodeId = nodeIdentity(config.nodeId);
  const leading = leaderGauge(registry);
  const leader = new LeaderLease({
    db,
    name: 'periodic-work',
    nodeId,
    ttlMs: config.leaderLeaseTtlMs,
    // Real time even under a test's clock: the row's expiry is compared across processes.
    clock: systemClock,
    log: { info: (fields, message) => log.info(fields, message), warn: (fields, message) => log.warn(fields, message) },
    onChange: (yes) => leading.set(yes ? 1 : 0),
  });
  await leader.start();
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
    await leader.close();
    // On PostgreSQL the buses hold a listening connection, which would keep the process alive.
    await buses.close();
    await db.destroy();
    throw err;
  }
  // Everything started from here on is stopped by `stop`, also when a later part cannot start
  // (a port already in use): a half-started server would keep the process alive.
  let gatewayPort = 0;
  let httpsPort = 0;
  let apiUrl = '';
  let doors: FrontDoors | undefined;
  let metricsListener: Awaited<ReturnType<typeof listenForMetrics>> | undefined;
  let workers: ReturnType<typeof serverWorkers> | undefined;
  let trafficTimer: NodeJS.Timeout | undefined;
  const saveTraffic = () => saveTrafficCounters(db, traffic, log);
  const stop = async () => {
    await federation.close();
    await workers?.close();
    await tls?.certificate.close();
    clearInterval(trafficTimer);
    await doors?.close();
    await metricsListener?.close();
    await cluster?.close();
    await gateway?.close();
    await api.close();
    await rails.close();
    await mail?.close();
    await saveTraffic();
    // Last: another node takes the periodic work over at once instead of after the lease's TTL.
    await leader.close();
    await buses.close();
    await db.destroy();
  };
  try {
    const presence = devicePresence(ctx, userEvents, log);
    gateway = serverGateway(config, {
      ctx,
      hostKey: hostKey.privateKey,
      nudges: events,
      federation,
      presence,
      traffic,
      handshakes,
      cluster: () => cluster,
      frontDoors: () => frontDoors,
      log,
    });
    gatewayPort = await gateway.listen(config.gatewayPort, config.gatewayHost);
    gatewayRef.port = gatewayPort;
    // Cluster (cluster/cluster-node.ts): one node of several on this database, linked to the others.
    const clusterNode = clusterSettings(config);
    if (clusterNode) {
      cluster = new ClusterNode({
        ...clusterNode,
        db,
        clock,
        tunnels: gateway,
        onDeviceGone: presence.offline,
        onDeviceBack: presence.online,
        onRentalsChanged: () => {
          webRoutes.forget();
          frontDoors?.forgetChannels();
        },
        onRenterConnection: (rental, socket) => traffic.track(socket, rental.deviceId, rental.rentalId, 'ssh'),
        log,
      });
      await cluster.start();
    }

    const operator = await ensureOperator(ctx, config.adminEmail);
    if (operator) {
      const file = writeOperatorPassword(config.dataDir, operator.password);
      log.info(`operator account ${operator.email} created; its password is in ${file} (readable by this user only)`);
    }

    // The API does not listen itself: the HTTP front door hands it the connections for the server's own name.
    await api.ready();
    doors = new FrontDoors({
      resolve: (host) => webRoutes.resolve(host),
      openChannel: (deviceId, port, address, remotePort) =>
        cluster
          ? cluster.openChannel(deviceId, port === 80 ? 80 : 443, address, remotePort)
          : (gateway as TunnelGateway).openWebChannel(deviceId, port, address, remotePort),
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
    frontDoors = doors;
    const port = await listen(doors.http, config.httpPort, config.httpHost);
    httpsPort = await listen(doors.https, config.httpsPort, config.httpHost);
    metricsListener =
      config.metricsPort === undefined ? undefined : await listenForMetrics(metrics, config.metricsPort, config.metricsHost);
    trafficTimer = setInterval(() => void saveTraffic(), 30_000);
    trafficTimer.unref();
    apiUrl = `http://${config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost}:${port}`;

    workers = serverWorkers(ctx, config, {
      log,
      kickMail: () => mailQueue.kick(),
      certificate: tls?.certificate,
      leader,
      beforeMeterCommit: options.beforeMeterCommit,
    });
    warnIfPlainHttp(config.publicUrl, log);
    workers.start();
    mailQueue.start();
    federation.start();
    const enrolled = (await listEnrolledDevices(db)).length;
    log.info(
      `p2pvps server "${config.serverName}": API ${apiUrl}, HTTPS front door :${httpsPort}, device gateway ${config.gatewayHost}:${gatewayPort}, ` +
        `devices on *.${config.webDomain}, ${enrolled} enrolled device(s)` +
        (metricsListener ? `, metrics on http://${config.metricsHost}:${metricsListener.port}/metrics` : ''),
    );
  } catch (err) {
    await stop().catch((stopErr: unknown) => log.warn({ err: stopErr }, 'could not stop every part of a server that failed to start'));
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    apiUrl,
    gatewayPort,
    httpsPort,
    ...(metricsListener ? { metricsPort: metricsListener.port } : {}),
    ctx,
    gateway,
    mail: mailQueue,
    federation,
    close: () => (closing ??= stop()),
  };
}
