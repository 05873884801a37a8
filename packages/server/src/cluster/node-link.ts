import net from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { AuthContext, Channel, ClientChannel, Connection, ServerChannel } from 'ssh2';
import { tunnelSshAlgorithms } from '@p2pvps/protocol/tunnel-ssh';
import { timing } from '@p2pvps/protocol/timing';
import { verifyEd25519 } from '../gateway/decoded-keys.ts';
import type { TunnelGatewayLog } from '../gateway/tunnel-gateway.ts';
import type { ClusterKeys } from './cluster-keys.ts';
import type { NodeAddress } from '../db/cluster-repo.ts';

const { Server: SshServer, Client: SshClient } = ssh2;

/**
 * What a stream over the link asks for: a device's port 80 or 443 (a front door's visitor),
 * or its SSH forward (a renter), named by this port number.
 */
export type DevicePort = 80 | 443 | 'ssh';
/** direct-tcpip carries a port number; the device's SSH forward is asked for as 22. */
const sshWirePort = 22;

/** Opens a channel to a device whose tunnel is on this node (the gateway's forwardOut). */
export type OpenLocal = (deviceId: string, port: DevicePort, remoteAddress: string, remotePort: number) => Promise<Duplex>;

export interface NodeLinkServerOptions {
  keys: ClusterKeys;
  openLocal: OpenLocal;
  /** Another node asks this one to drop a device's tunnel (the device was removed there). */
  onDisconnect(deviceId: string): void;
  log: TunnelGatewayLog;
}

/** Like sshd's LoginGraceTime, shorter: a node logs in at once or not at all. */
const loginGraceMs = 10_000;
const deviceIdPattern = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The listening side of the node-to-node link: an SSH server (ssh2) that other nodes of
 * the cluster log into, proving the cluster secret with the derived client key while this
 * side proves it with the derived host key. A logged-in node may open direct-tcpip
 * channels whose destination is a device ID and port (80, 443, 22 for its SSH forward):
 * each is joined to a channel through the device's tunnel here, keeping half-close. One
 * connection between two nodes carries every stream between them, with SSH's flow control.
 * Everything else (shell, forwards, other channels) is refused; `exec disconnect DEVICE`
 * is the one command.
 */
export class NodeLinkServer {
  private readonly ssh: InstanceType<typeof SshServer>;
  private readonly listener: net.Server;
  /** Sockets by remote address and port, with their login grace timer. */
  private readonly sockets = new Map<string, { socket: net.Socket; grace: NodeJS.Timeout }>();
  /** Logins that succeeded and were refused, for tests and logs. */
  readonly stats = { authenticated: 0, refused: 0, channels: 0 };

  constructor(private readonly o: NodeLinkServerOptions) {
    this.ssh = new SshServer({
      hostKeys: [{ key: o.keys.host }],
      keepaliveInterval: timing.tunnelKeepaliveMs,
      keepaliveCountMax: timing.tunnelKeepaliveCountMax,
      algorithms: tunnelSshAlgorithms,
    });
    this.ssh.on('error', (err: Error) => o.log.warn({ err: err.message }, 'node link error'));
    this.ssh.on('connection', (client: Connection, info) => this.attach(client, info.ip, `${info.ip}|${info.port}`));
    this.listener = net.createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.setNoDelay(true);
      // A connection that has not logged in within the grace is cut; logging in clears it (attach).
      const key = `${socket.remoteAddress}|${socket.remotePort}`;
      const grace = setTimeout(() => socket.destroy(), loginGraceMs).unref();
      this.sockets.set(key, { socket, grace });
      socket.once('close', () => {
        clearTimeout(grace);
        this.sockets.delete(key);
      });
      this.ssh.injectSocket(socket);
    });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, host, () => {
        this.listener.off('error', reject);
        resolve((this.listener.address() as net.AddressInfo).port);
      });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.listener.listening ? this.listener.close(() => resolve()) : resolve()));
    for (const { socket } of this.sockets.values()) socket.destroy();
    await closed;
  }

  private attach(client: Connection, remote: string, socketKey: string): void {
    let peer: string | null = null;
    let failures = 0;
    const refuse = (ctx: AuthContext, why: string) => {
      this.stats.refused++;
      this.o.log.warn({ remote, node: ctx.username }, why);
      ctx.reject(['publickey']);
      if (++failures >= 3) client.end();
    };
    client.on('error', (err: Error) => {
      this.o.log.info({ peer, remote, err: err.message }, 'node link connection error');
      // ssh2 reports a packet that fails to decrypt (a replay, say) but leaves the socket open.
      this.sockets.get(socketKey)?.socket.destroy();
    });
    client.on('authentication', (ctx: AuthContext) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const mine = this.o.keys.client;
      if (ctx.key.algo !== mine.type || !ctx.key.data.equals(mine.getPublicSSH())) {
        return refuse(ctx, 'refused a node link login: not the cluster key');
      }
      if (!ctx.signature) return ctx.accept();
      if (!ctx.blob || !verifyEd25519(mine, ctx.blob, ctx.signature)) return refuse(ctx, 'refused a node link login: bad signature');
      peer = ctx.username;
      ctx.accept();
    });
    client.on('ready', () => {
      this.stats.authenticated++;
      const raw = this.sockets.get(socketKey);
      if (raw) clearTimeout(raw.grace);
      this.o.log.info({ peer, remote }, 'node linked');
    });
    client.on('tcpip', (accept, reject, info) => {
      const port: DevicePort | null =
        info.destPort === sshWirePort ? 'ssh' : info.destPort === 80 || info.destPort === 443 ? info.destPort : null;
      if (peer === null || port === null || !deviceIdPattern.test(info.destIP)) return reject();
      this.o.openLocal(info.destIP, port, info.srcIP, info.srcPort).then(
        (local) => {
          this.stats.channels++;
          joinStreams(accept(), local);
        },
        () => reject(),
      );
    });
    client.on('session', (accept) => {
      const session = accept();
      session.on('exec', (acceptExec, rejectExec, info) => {
        const match = /^disconnect ([A-Za-z0-9_-]{1,64})$/.exec(info.command);
        if (peer === null || !match) return rejectExec?.();
        const channel = acceptExec();
        this.o.onDisconnect(match[1]!);
        channel.exit(0);
        channel.end();
      });
      session.on('pty', (_a, reject) => reject?.());
      session.on('shell', (_a, reject) => reject?.());
      session.on('subsystem', (_a, reject) => reject?.());
    });
    client.on('request', (_accept, reject) => reject?.());
    client.on('openssh.streamlocal', (_accept, reject) => reject());
  }
}

export interface NodeLinkClientOptions {
  nodeId: string;
  keys: ClusterKeys;
  log: TunnelGatewayLog;
  /** Time to connect and log in to another node. */
  connectTimeoutMs?: number;
}

/**
 * The dialling side: one SSH connection per other node, made on first use and made again
 * after it drops, carrying every stream this node sends there.
 */
export class NodeLinkClient {
  private readonly links = new Map<string, { key: string; ready: Promise<InstanceType<typeof SshClient>> }>();
  private closed = false;

  constructor(private readonly o: NodeLinkClientOptions) {}

  /** A stream to the device's port through the node that holds its tunnel. */
  async open(node: NodeAddress, deviceId: string, port: DevicePort, remoteAddress: string, remotePort: number): Promise<Duplex> {
    const client = await this.link(node);
    return new Promise((resolve, reject) => {
      client.forwardOut(remoteAddress || '0.0.0.0', remotePort, deviceId, port === 'ssh' ? sshWirePort : port, (err, channel) =>
        err ? reject(err) : resolve(channel),
      );
    });
  }

  /** Asks the node that holds a device's tunnel to drop it. */
  async disconnect(node: NodeAddress, deviceId: string): Promise<void> {
    const client = await this.link(node);
    await new Promise<void>((resolve, reject) =>
      client.exec(`disconnect ${deviceId}`, (err, stream) => {
        if (err) return reject(err);
        stream.on('close', () => resolve());
        stream.resume();
      }),
    );
  }

  close(): void {
    this.closed = true;
    for (const { ready } of this.links.values())
      void ready.then(
        (c) => c.end(),
        () => undefined,
      );
    this.links.clear();
  }

  private link(node: NodeAddress): Promise<InstanceType<typeof SshClient>> {
    if (this.closed) return Promise.reject(new Error('node link closed'));
    const key = `${node.host}:${node.port}`;
    const known = this.links.get(node.nodeId);
    if (known?.key === key) return known.ready;
    const client = new SshClient();
    const ready = new Promise<InstanceType<typeof SshClient>>((resolve, reject) => {
      client.once('ready', () => resolve(client));
      client.once('error', (err) => reject(err));
      client.connect({
        host: node.host,
        port: node.port,
        username: this.o.nodeId,
        privateKey: this.o.keys.clientText,
        // Only a node that knows the cluster secret has this host key.
        hostVerifier: (hostKey: Buffer) => hostKey.equals(this.o.keys.host.getPublicSSH()),
        algorithms: tunnelSshAlgorithms,
        readyTimeout: this.o.connectTimeoutMs ?? 10_000,
        keepaliveInterval: timing.tunnelKeepaliveMs,
        keepaliveCountMax: timing.tunnelKeepaliveCountMax,
      });
    });
    const entry = { key, ready };
    this.links.set(node.nodeId, entry);
    const forget = () => {
      if (this.links.get(node.nodeId) === entry) this.links.delete(node.nodeId);
    };
    client.on('close', forget);
    client.on('error', (err) => {
      this.o.log.info({ node: node.nodeId, err: err.message }, 'node link to another node failed');
      forget();
    });
    return ready;
  }
}

/**
 * Joins two channels keeping half-close: an end on one side becomes an EOF on the other
 * after everything written before it (ssh2 closes a server channel outright on end(), so
 * eof() where there is one), and a close on either side closes both.
 */
export function joinStreams(a: Duplex, b: Duplex): void {
  const halfClose = (from: Duplex, to: Duplex) => {
    from.pipe(to, { end: false });
    from.once('end', () => {
      const eof = (to as Duplex & { eof?: () => void }).eof;
      to.write(Buffer.alloc(0), () => (eof ? eof.call(to) : to.end()));
    });
    from.on('error', () => to.destroy());
    from.once('close', () => {
      const close = (to as Partial<Channel | ServerChannel | ClientChannel> & { close?: () => void }).close;
      if (close) close.call(to);
      else to.destroy();
    });
  };
  halfClose(a, b);
  halfClose(b, a);
}
