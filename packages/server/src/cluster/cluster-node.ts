import type { Duplex } from 'node:stream';
import type { Db } from '../db/database.ts';
import type { Clock } from '../domain/clock.ts';
import { TunnelUnavailableError, type TunnelGatewayLog } from '../gateway/tunnel-gateway.ts';
import { PeriodicWorker } from '../services/periodic-worker.ts';
import {
  findTunnelHolder,
  devicesHeldBy,
  heartbeatNode,
  holdTunnel,
  reapTunnelHolders,
  registerNode,
  releaseTunnel,
  remotelyHeldDevices,
  rentalPorts,
  stopNode,
} from '../db/cluster-repo.ts';
import { clusterKeys } from './cluster-keys.ts';
import { NodeLinkClient, NodeLinkServer, type DevicePort } from './node-link.ts';
import { RentalPorts, type RentalPort } from './rental-ports.ts';
import type net from 'node:net';

/** What the cluster needs of this node's own gateway. */
export interface LocalTunnels {
  isOnline(deviceId: string): boolean;
  onlineDeviceIds(): string[];
  openWebChannel(deviceId: string, port: number, remoteAddress: string, remotePort: number): Promise<Duplex>;
  openSshChannel(deviceId: string, remoteAddress: string, remotePort: number): Promise<Duplex>;
  disconnect(deviceId: string): void;
}

export interface ClusterNodeOptions {
  db: Db;
  clock: Clock;
  nodeId: string;
  secret: string;
  listen: { host: string; port: number };
  advertise: { host: string; port: number };
  heartbeatMs: number;
  /** Where renters' SSH ports bind. */
  publicBindHost: string;
  maxConnectionsPerDevice: number;
  tunnels: LocalTunnels;
  /** A device whose tunnel was on a node that died (or on this one before a restart): it is offline now. */
  onDeviceGone(deviceId: string): void;
  /** A device whose tunnel is up here but was reaped while this node looked dead (a long pause): online again. */
  onDeviceBack(deviceId: string): void;
  /** Rentals started or ended somewhere in the cluster (cached web routes are stale). */
  onRentalsChanged(): void;
  onRenterConnection(rental: RentalPort, socket: net.Socket): void;
  log: TunnelGatewayLog;
}

/** A node silent for this many heartbeats is dead. */
const deadAfterBeats = 5;

/** The oldest heartbeat of a node still counted alive. */
export function liveSince(now: Date, heartbeatMs: number): string {
  return new Date(now.getTime() - deadAfterBeats * heartbeatMs).toISOString();
}

/**
 * This server as one node of a cluster on a shared database: it registers and heartbeats,
 * records the device tunnels it holds, listens on the node link for streams other nodes
 * carry to its devices, carries its own visitors and renters to the node that holds theirs
 * (no second hop when that is this node), listens on every open rental's SSH port, and
 * marks offline the devices of nodes that died.
 */
export class ClusterNode {
  private readonly link: NodeLinkServer;
  private readonly dialer: NodeLinkClient;
  private readonly rentalPorts: RentalPorts;
  private readonly beat: PeriodicWorker;
  /** Devices a live other node holds, as of the last heartbeat: isOnline must answer without a query. */
  private remote = new Set<string>();
  linkPort = 0;

  constructor(private readonly o: ClusterNodeOptions) {
    const keys = clusterKeys(o.secret);
    this.link = new NodeLinkServer({
      keys,
      log: o.log,
      openLocal: (deviceId, port, address, remotePort) => this.openLocal(deviceId, port, address, remotePort),
      onDisconnect: (deviceId) => o.tunnels.disconnect(deviceId),
    });
    this.dialer = new NodeLinkClient({ nodeId: o.nodeId, keys, log: o.log });
    this.rentalPorts = new RentalPorts({
      bindHost: o.publicBindHost,
      list: () => rentalPorts(o.db),
      open: (deviceId, address, remotePort) => this.openChannel(deviceId, 'ssh', address, remotePort),
      onConnection: (rental, socket) => o.onRenterConnection(rental, socket),
      maxConnectionsPerDevice: o.maxConnectionsPerDevice,
      log: o.log,
    });
    this.beat = new PeriodicWorker(
      o.heartbeatMs,
      () => this.tick(),
      (err) => o.log.warn({ err }, 'cluster heartbeat failed'),
    );
  }

  async start(): Promise<void> {
    const port = await this.link.listen(this.o.listen.port, this.o.listen.host);
    this.linkPort = port;
    const advertisePort = this.o.advertise.port === 0 ? port : this.o.advertise.port;
    await registerNode(this.o.db, { id: this.o.nodeId, linkHost: this.o.advertise.host, linkPort: advertisePort, now: this.now() });
    // Tunnels this node held before it restarted are gone with its old process.
    for (const id of await reapTunnelHolders(this.o.db, this.freshSince(), this.o.nodeId)) this.o.onDeviceGone(id);
    await this.tick();
    this.beat.start();
    this.o.log.info({ nodeId: this.o.nodeId, link: `${this.o.advertise.host}:${advertisePort}` }, 'cluster node started');
  }

  /** Online anywhere in the cluster: here, or on a live node as of the last heartbeat. */
  isOnline(deviceId: string): boolean {
    return this.o.tunnels.isOnline(deviceId) || this.remote.has(deviceId);
  }

  /** A channel to the device's port: through this node's gateway when it holds the tunnel, else over the link. */
  async openChannel(deviceId: string, port: DevicePort, remoteAddress: string, remotePort: number): Promise<Duplex> {
    if (this.o.tunnels.isOnline(deviceId)) return this.openLocal(deviceId, port, remoteAddress, remotePort);
    const holder = await findTunnelHolder(this.o.db, deviceId, this.freshSince());
    if (!holder || holder.nodeId === this.o.nodeId) throw new TunnelUnavailableError('offline');
    return this.dialer.open(holder, deviceId, port, remoteAddress, remotePort);
  }

  /** The device's tunnel came up here. */
  tunnelUp(deviceId: string): Promise<void> {
    return holdTunnel(this.o.db, deviceId, this.o.nodeId, this.now());
  }

  /**
   * The device's tunnel went down here; true when it is up again meanwhile, on another live
   * node or back on this one, so it is not offline and its meter goes on.
   */
  async tunnelDown(deviceId: string): Promise<boolean> {
    await releaseTunnel(this.o.db, deviceId, this.o.nodeId);
    const holder = await findTunnelHolder(this.o.db, deviceId, this.freshSince());
    return (holder !== null && holder.nodeId !== this.o.nodeId) || this.o.tunnels.isOnline(deviceId);
  }

  /** Drops the device's tunnel here and on the node that holds it (the device was removed). */
  disconnect(deviceId: string): void {
    this.o.tunnels.disconnect(deviceId);
    void findTunnelHolder(this.o.db, deviceId, this.freshSince())
      .then((holder) => (holder && holder.nodeId !== this.o.nodeId ? this.dialer.disconnect(holder, deviceId) : undefined))
      .catch((err) => this.o.log.warn({ deviceId, err }, 'could not ask the node holding the device to drop it'));
  }

  /** A rental started or ended on this node: its SSH port opens or closes here now, elsewhere at their next heartbeat. */
  rentalsChanged(): void {
    void this.rentalPorts.reconcile().catch((err) => this.o.log.warn({ err }, 'could not update the rental ports'));
  }

  async close(): Promise<void> {
    await this.beat.close();
    await this.rentalPorts.close();
    await this.link.close();
    this.dialer.close();
    await stopNode(this.o.db, this.o.nodeId, this.now()).catch(() => undefined);
  }

  private async tick(): Promise<void> {
    await heartbeatNode(this.o.db, this.o.nodeId, this.now());
    for (const id of await reapTunnelHolders(this.o.db, this.freshSince())) this.o.onDeviceGone(id);
    // Another node may have taken this one for dead during a long pause and reaped its tunnels: claim them again.
    const held = new Set(await devicesHeldBy(this.o.db, this.o.nodeId));
    for (const id of this.o.tunnels.onlineDeviceIds()) {
      if (held.has(id)) continue;
      await holdTunnel(this.o.db, id, this.o.nodeId, this.now());
      this.o.onDeviceBack(id);
    }
    this.remote = new Set(await remotelyHeldDevices(this.o.db, this.o.nodeId, this.freshSince()));
    if (await this.rentalPorts.reconcile()) this.o.onRentalsChanged();
  }

  private openLocal(deviceId: string, port: DevicePort, remoteAddress: string, remotePort: number): Promise<Duplex> {
    return port === 'ssh'
      ? this.o.tunnels.openSshChannel(deviceId, remoteAddress, remotePort)
      : this.o.tunnels.openWebChannel(deviceId, port, remoteAddress, remotePort);
  }

  private now(): string {
    return this.o.clock.now().toISOString();
  }

  private freshSince(): string {
    return liveSince(this.o.clock.now(), this.o.heartbeatMs);
  }
}
