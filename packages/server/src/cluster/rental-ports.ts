import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ServerChannel } from 'ssh2';
import { splice, type TunnelGatewayLog } from '../gateway/tunnel-gateway.ts';

/** A rental a renter may log into now, and the public SSH port of its device. */
export interface RentalPort {
  deviceId: string;
  port: number;
  rentalId: string;
}

export interface RentalPortsOptions {
  /** Where the ports bind (--public-bind-host). */
  bindHost: string;
  /** The rentals open now, cluster-wide. */
  list(): Promise<RentalPort[]>;
  /** A stream to the device's SSH forward, through whichever node holds its tunnel. */
  open(deviceId: string, remoteAddress: string, remotePort: number): Promise<Duplex>;
  /** A renter connected (traffic accounting). */
  onConnection(rental: RentalPort, socket: net.Socket): void;
  maxConnectionsPerDevice: number;
  log: TunnelGatewayLog;
}

interface Listening {
  rental: RentalPort;
  server: net.Server;
  sockets: Set<net.Socket>;
}

/**
 * Renters' SSH ports on a cluster node. Ports are allocated in the shared database, so
 * every node listens on the port of every open rental, wherever the device's tunnel is,
 * and carries the renter to it (through this node's gateway or over the node link). The
 * set follows the database: `reconcile` opens the ports of new rentals and closes those of
 * ended ones, dropping their renters.
 */
export class RentalPorts {
  private readonly ports = new Map<number, Listening>();
  private closed = false;

  constructor(private readonly o: RentalPortsOptions) {}

  /** Makes the listening ports match the open rentals; true when anything changed. */
  async reconcile(): Promise<boolean> {
    const wanted = new Map((await this.o.list()).map((r) => [r.port, r]));
    if (this.closed) return false;
    let changed = false;
    for (const [port, listening] of this.ports) {
      const now = wanted.get(port);
      if (now?.deviceId === listening.rental.deviceId && now.rentalId === listening.rental.rentalId) continue;
      changed = true;
      this.stop(port, listening);
    }
    for (const [port, rental] of wanted) {
      if (this.ports.has(port)) continue;
      changed = true;
      this.start(rental);
    }
    return changed;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.ports].map(([port, listening]) => this.stop(port, listening)));
  }

  private start(rental: RentalPort): void {
    // Half-open so a client that sends its request and shuts down writing still gets the reply.
    const server = net.createServer({ allowHalfOpen: true });
    const listening: Listening = { rental, server, sockets: new Set() };
    this.ports.set(rental.port, listening);
    server.on('connection', (socket) => this.accept(listening, socket));
    server.on('error', (err: NodeJS.ErrnoException) => {
      this.o.log.warn({ deviceId: rental.deviceId, port: rental.port, code: err.code }, 'rental port error');
      // Not bound: try again at the next reconcile.
      if (!server.listening && this.ports.get(rental.port) === listening) this.ports.delete(rental.port);
    });
    server.listen(rental.port, this.o.bindHost);
  }

  private stop(port: number, listening: Listening): Promise<void> {
    if (this.ports.get(port) === listening) this.ports.delete(port);
    for (const socket of listening.sockets) socket.destroy();
    return new Promise((resolve) => (listening.server.listening ? listening.server.close(() => resolve()) : resolve()));
  }

  private accept(listening: Listening, socket: net.Socket): void {
    const { rental } = listening;
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    if (listening.sockets.size >= this.o.maxConnectionsPerDevice) return void socket.destroy();
    listening.sockets.add(socket);
    socket.once('close', () => listening.sockets.delete(socket));
    this.o.onConnection(rental, socket);
    // Bytes that arrive meanwhile stay buffered in the socket until it is spliced.
    this.o.open(rental.deviceId, socket.remoteAddress ?? '', socket.remotePort ?? 0).then(
      (channel) => {
        if (socket.destroyed || this.ports.get(rental.port) !== listening) return void channel.destroy();
        // A link channel and a gateway channel are both ssh2 channels, with the eof() splice uses.
        splice(socket, channel as ServerChannel);
      },
      (err: Error) => {
        this.o.log.info({ deviceId: rental.deviceId, err: err.message }, 'renter could not be carried to the device');
        socket.destroy();
      },
    );
  }
}
