import type { Histogram } from 'prom-client';
import { timing } from '@p2pvps/protocol/timing';
import type { ServerConfig } from '../config.ts';
import type { ClusterNode } from '../cluster/cluster-node.ts';
import type { DomainContext } from '../domain/context.ts';
import { recordDeviceOnline, settleDeviceRental, tunnelPolicy } from '../domain/devices/tunnels.ts';
import type { DeviceEvents } from '../events/device-events.ts';
import type { UserEvents } from '../events/user-events.ts';
import type { Federation } from '../federation/federation-service.ts';
import type { FrontDoors } from '../frontdoor/front-doors.ts';
import { TunnelGateway } from '../gateway/tunnel-gateway.ts';
import type { TrafficMeter } from './traffic.ts';

interface Log {
  error(fields: object, message: string): void;
}

/**
 * What a device's tunnel coming or going means to the marketplace: its rental's billing
 * settled for the stretch before, then the device shown online or offline to its owner and
 * renter. The same on this node's gateway and, in a cluster, when another node's tunnel
 * comes or goes (cluster/cluster-node.ts).
 */
export function devicePresence(ctx: DomainContext, userEvents: UserEvents, log: Log) {
  const changed = (deviceId: string, online: boolean) => {
    void settleDeviceRental(ctx, deviceId, !online).catch((err) => log.error({ err, deviceId }, 'could not settle the rental'));
    void recordDeviceOnline(ctx, deviceId, online)
      .then(() => userEvents.deviceChanged(deviceId))
      .catch((err) => log.error({ err }, 'could not record tunnel state'));
  };
  return { online: (deviceId: string) => changed(deviceId, true), offline: (deviceId: string) => changed(deviceId, false) };
}

export type DevicePresence = ReturnType<typeof devicePresence>;

/**
 * The devices' SSH gateway (gateway/tunnel-gateway.ts) wired to the rest of the server:
 * who may connect (the device's own policy, or a backed-up peer's device), what a tunnel
 * going up or down changes (the cluster's holder, billing, presence, warm front-door
 * channels, a peer's backup stretches), and what it reports (handshake times, renters'
 * traffic). The cluster node and the front doors are made after the gateway, so they are
 * read when a tunnel changes, not when it is built.
 */
export function serverGateway(
  config: ServerConfig,
  parts: {
    ctx: DomainContext;
    hostKey: string | Buffer;
    nudges: DeviceEvents;
    federation: Federation;
    presence: DevicePresence;
    traffic: TrafficMeter;
    handshakes: Histogram;
    cluster: () => ClusterNode | undefined;
    frontDoors: () => FrontDoors | undefined;
    log: Log & ConstructorParameters<typeof TunnelGateway>[0]['log'];
  },
): TunnelGateway {
  const { ctx, federation, presence, log } = parts;
  // A backed-up peer's device serving its rental here: the stretches handed back to its home.
  const backupTunnel = (id: string, up: boolean) =>
    federation.backups.serving.tunnelChanged(id, up).catch((err) => log.error({ err, deviceId: id }, 'could not record backup service'));
  return new TunnelGateway({
    hostKey: parts.hostKey,
    publicBindHost: config.publicBindHost,
    // Cluster: every node listens on renters' ports itself (cluster/rental-ports.ts), wherever the tunnel is.
    // A device not ours is admitted only if a home we back up named it in its last snapshot.
    lookupDevice: async (deviceId) =>
      (await tunnelPolicy(ctx, deviceId, { nodesListen: !!config.nodeLinkListen })) ?? federation.backups.serving.tunnelPolicy(deviceId),
    onTunnelUp: (id) => {
      void backupTunnel(id, true);
      // Cluster: the holder is recorded before the device is shown online, so other nodes find it.
      void (parts.cluster()?.tunnelUp(id) ?? Promise.resolve())
        .catch((err) => log.error({ err, deviceId: id }, 'could not record the tunnel holder'))
        .then(() => presence.online(id));
    },
    onTunnelDown: (id) => {
      parts.frontDoors()?.forgetDevice(id);
      void backupTunnel(id, false);
      void (parts.cluster()?.tunnelDown(id) ?? Promise.resolve(false))
        .catch(() => false)
        .then((stillOnline) => {
          // Cluster: it reconnected meanwhile (to another node, or here), so it is neither offline nor unbilled.
          if (!stillOnline) presence.offline(id);
        });
    },
    log,
    // The agents' nudges ride their tunnels (gateway/tunnel-nudges.ts).
    nudges: parts.nudges,
    keepaliveIntervalMs: timing.tunnelKeepaliveMs,
    keepaliveCountMax: timing.tunnelKeepaliveCountMax,
    maxConnectionsPerDevice: config.maxConnectionsPerDevice,
    maxStartups: config.gatewayMaxStartups,
    maxStartupsPerSource: config.gatewayMaxStartupsPerSource,
    versionTimeoutMs: config.gatewayVersionTimeoutMs,
    penalties: config.gatewayPenalties,
    maxConnectionsPerKey: config.gatewayMaxConnectionsPerKey,
    onHandshake: (ms) => parts.handshakes.observe(ms / 1000),
    // The policy lookup that admitted the visitor already names the rental to count against.
    onPublicConnection: (device, socket) => parts.traffic.track(socket, device.deviceId, device.rentalId ?? null, 'ssh'),
  });
}
