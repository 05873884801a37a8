import net from 'node:net';
import { tunnelBenchmarkOrigin } from '@p2pvps/protocol/benchmark';
import ssh2 from 'ssh2';
import type { AuthContext, ClientInfo, Connection, ParsedKey, ServerChannel, SocketBindInfo, TcpipBindInfo } from 'ssh2';
import { timing } from '@p2pvps/protocol/timing';
import { HandshakeThrottle, type MaxStartups } from './handshake-throttle.ts';
import { sourceOf } from '../client-source.ts';
import { SourcePenalties, type Offence, type PenaltyPolicy } from './source-penalties.ts';
import {
  defaultMaxConnectionsPerKey,
  defaultMaxStartups,
  defaultMaxStartupsPerSource,
  defaultPenaltyPolicy,
  defaultVersionTimeoutMs,
  DeviceKeyCap,
  RequestBudget,
} from './connection-limits.ts';
import { verifyEd25519 } from './decoded-keys.ts';
import { openNudgeChannel, type NudgeSource } from './tunnel-nudges.ts';
import { VisitorPolicyCache } from './visitor-policy.ts';
import { signingKey } from '@p2pvps/protocol/ssh-keys';
import { tunnelSshAlgorithms } from '@p2pvps/protocol/tunnel-ssh';
import { batchWritesPerTick } from '@p2pvps/protocol/batched-writes';
import { readIntoPackets, readIntoSlabsWhileBusy, releaseSlabsOnWrite } from '@p2pvps/protocol/socket-reads';

const { Server: SshServer, utils: sshUtils } = ssh2;

/** The gateway's view of a device: who it is, which key it logs in with, which port it may forward. */
export interface TunnelDevice {
  deviceId: string;
  /** OpenSSH public key line: `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
  sshPort: number;
  /**
   * Whether the public SSH port should accept visitors now (the server says: while the
   * device is rented). When false the tunnel is still up and the device online, but
   * nothing listens on the port, which costs an idle device no socket. Default true.
   */
  publicPortOpen?: boolean;
  /** The rental visitors' bytes are counted against, if any (passed to onPublicConnection). */
  rentalId?: string | null;
}

export interface TunnelGatewayLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface TunnelGatewayOptions {
  /** Host private key, OpenSSH or PEM. */
  hostKey: string | Buffer;
  /** Where the per-device public listeners bind, e.g. `0.0.0.0`. */
  publicBindHost: string;
  /**
   * Current policy for a device; null when it is unknown or removed. Asked on every login and
   * request; for visitors' connections remembered until refresh() or disconnect() (visitor-policy.ts).
   */
  lookupDevice(deviceId: string): Promise<TunnelDevice | null>;
  /** The device's forward is established and its public port is accepting. */
  onTunnelUp?(deviceId: string): void;
  /** The device's forward went away. Not called when a newer connection of the same device takes the forward over. */
  onTunnelDown?(deviceId: string): void;
  log?: TunnelGatewayLog;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Device connections that may be in the handshake at once, sshd's MaxStartups `start:rate:full`; more are refused at accept. */
  maxStartups?: MaxStartups;
  /** Handshakes one source (an IPv4 address, an IPv6 /64) may have under way at once; more are refused at accept. */
  maxStartupsPerSource?: number;
  /** Time a new connection has to send its SSH version line; the 30 s login grace covers the rest. */
  versionTimeoutMs?: number;
  /** Penalties for sources whose connections never log in (OpenSSH's PerSourcePenalties); null: none. */
  penalties?: PenaltyPolicy | null;
  /** Logged-in connections one device key may hold at once; a newer login ends the oldest. */
  maxConnectionsPerKey?: number;
  /** Milliseconds, for penalties and request budgets. Default Date.now. */
  now?: () => number;
  /** For the random early drop; default Math.random. */
  random?: () => number;
  /** A device logged in, `ms` after its SSH version line arrived (key exchange and authentication). */
  onHandshake?(ms: number): void;
  /** A visitor connected to a device's public SSH port (for traffic accounting). */
  onPublicConnection?(device: TunnelDevice, socket: net.Socket): void;
  /** Visitor connections one device's public SSH port may carry at once; beyond it they are refused. */
  maxConnectionsPerDevice?: number;
  /** The devices' nudges, sent to each inside its tunnel (tunnel-nudges.ts). */
  nudges?: NudgeSource;
}

/**
 * Ports a device may forward besides its SSH port. They are virtual: the gateway listens
 * on no such port; the HTTP and HTTPS front doors route to them by name (openWebChannel).
 */
export const webPorts: readonly number[] = [80, 443];

export class TunnelUnavailableError extends Error {
  constructor(readonly reason: 'offline' | 'not_forwarded' | 'refused') {
    super(`device tunnel unavailable: ${reason}`);
  }
}

/** One authenticated (or authenticating) SSH connection from a device. */
interface DeviceConnection {
  client: Connection;
  socket: net.Socket | undefined;
  remote: string;
  /** Set once authentication succeeds; the SSH username. */
  deviceId: string | null;
  failedLogins: number;
  closed: boolean;
  /** Ended by the gateway (replaced, over the per-key cap); no longer counts against the cap. */
  ending: boolean;
  /** Global requests this connection may still send (each costs a policy lookup). */
  requests: RequestBudget;
  /** Web ports this connection forwards, with the bind address it asked for (echoed back in forwarded-tcpip). */
  webForwards: Map<number, string>;
}

/** A TCP connection to the gateway from accept to close, logged in or not. */
interface RawConnection {
  socket: net.Socket;
  loginTimer: NodeJS.Timeout;
  /** Cleared when the client's version line arrives. */
  versionTimer: NodeJS.Timeout;
  endHandshake: () => void;
  /** What the source is penalised for if the connection closes now; null once logged in. */
  outcome: Offence | null;
}

/** A device's forward: its public listener and the connection that currently serves it. */
interface Tunnel {
  deviceId: string;
  port: number;
  /** The address the device asked to bind; echoed back in forwarded-tcpip so its client can match the forward. */
  bindAddr: string;
  owner: DeviceConnection;
  /** Null while the public port is closed by policy (see TunnelDevice.publicPortOpen). */
  listener: net.Server | null;
  sockets: Set<net.Socket>;
  /** Resolves true once the tunnel may be reported up (its port accepts, or is meant to stay closed), false if never. */
  ready: Promise<boolean>;
  settle(ok: boolean): void;
  up: boolean;
  closed: boolean;
}

/** ssh2 passes no reply functions when the client sent the request without want-reply. */
type Reply = (() => void) | undefined;

const silentLog: TunnelGatewayLog = { info() {}, warn() {} };
/** How long a connection we end may take to read the disconnect message before its socket is destroyed. */
const closeGraceMs = 1_000;
/** Like sshd's LoginGraceTime: a connection that has not logged in by then is dropped. */
const loginGraceMs = 30_000;
/** Like sshd's MaxAuthTries: each attempt costs a policy lookup, so a guesser is cut off early. */
const maxFailedLogins = 6;
/** How long a public socket may linger half-closed after its channel has closed. */
const lingerMs = 5_000;

/**
 * The SSH server devices log into to open their reverse tunnel. A device authenticates
 * with its own key (the username is its device ID) and may forward exactly its assigned
 * port; everything else an SSH server usually offers (shell, exec, subsystems,
 * direct-tcpip, streamlocal) is refused. Policy comes from `lookupDevice` and is asked
 * again on every request, and for public connections whenever the server says the device
 * changed (refresh, disconnect), so removing a device takes effect at once rather than at
 * its next login.
 */
export class TunnelGateway {
  private readonly log: TunnelGatewayLog;
  private readonly ssh: InstanceType<typeof SshServer>;
  private readonly listener: net.Server;
  private readonly connections = new Set<DeviceConnection>();
  /** Raw TCP sockets by remote address and port, including those still in the handshake. */
  private readonly sockets = new Map<string, RawConnection>();
  private readonly perKey: DeviceKeyCap<DeviceConnection>;
  private readonly handshakes: HandshakeThrottle;
  private readonly penalties: SourcePenalties | null;
  private readonly now: () => number;
  private refusedPenalised = 0;
  private readonly tunnels = new Map<string, Tunnel>();
  private readonly keepaliveIntervalMs: number;
  /** Policy for visitors' connections to a device's public port (visitor-policy.ts). */
  private readonly visitorPolicy: VisitorPolicyCache<TunnelDevice>;
  private closing: Promise<void> | null = null;

  constructor(private readonly options: TunnelGatewayOptions) {
    this.log = options.log ?? silentLog;
    this.keepaliveIntervalMs = options.keepaliveIntervalMs ?? timing.tunnelKeepaliveMs;
    this.now = options.now ?? Date.now;
    this.visitorPolicy = new VisitorPolicyCache((deviceId) => this.options.lookupDevice(deviceId), this.now);
    this.handshakes = new HandshakeThrottle({
      maxStartups: options.maxStartups ?? defaultMaxStartups,
      perSource: options.maxStartupsPerSource ?? defaultMaxStartupsPerSource,
      random: options.random,
    });
    this.perKey = new DeviceKeyCap(options.maxConnectionsPerKey ?? defaultMaxConnectionsPerKey);
    const penalties = options.penalties === undefined ? defaultPenaltyPolicy : options.penalties;
    this.penalties = penalties ? new SourcePenalties(penalties, this.now) : null;
    this.ssh = new SshServer({
      hostKeys: [{ key: signingKey(options.hostKey) }],
      keepaliveInterval: this.keepaliveIntervalMs,
      keepaliveCountMax: options.keepaliveCountMax ?? timing.tunnelKeepaliveCountMax,
      algorithms: tunnelSshAlgorithms,
    });
    this.ssh.on('error', (err: Error) => this.log.warn({ err }, 'ssh server error'));
    this.ssh.on('connection', (client: Connection, info: ClientInfo) => this.attach(client, info));
    // We own the TCP listener and hand sockets to ssh2, so every socket gets TCP
    // keepalive, no Nagle and an error handler before ssh2 sees a byte.
    this.listener = net.createServer((socket) => this.acceptSocket(socket));
    this.listener.on('error', (err) => this.log.warn({ err }, 'gateway listener error'));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.listener.once('error', onError);
      this.listener.listen(port, host, () => {
        this.listener.off('error', onError);
        resolve((this.listener.address() as net.AddressInfo).port);
      });
    });
  }

  isOnline(deviceId: string): boolean {
    return this.tunnels.get(deviceId)?.up === true;
  }

  /** Device SSH connections open now, logged in or still in the handshake. */
  connectionCount(): number {
    return this.connections.size;
  }

  /** What the pre-login defences have done so far, for metrics and the flood bench. */
  admissionStats(): {
    handshakesInFlight: number;
    refusedFull: number;
    refusedEarlyDrop: number;
    refusedPerSource: number;
    refusedPenalised: number;
    penalisedSources: number;
  } {
    return {
      handshakesInFlight: this.handshakes.inFlight,
      refusedFull: this.handshakes.refused('full'),
      refusedEarlyDrop: this.handshakes.refused('early-drop'),
      refusedPerSource: this.handshakes.refused('per-source'),
      refusedPenalised: this.refusedPenalised,
      penalisedSources: this.penalties?.size ?? 0,
    };
  }

  onlineDeviceIds(): string[] {
    return [...this.tunnels.values()].filter((t) => t.up).map((t) => t.deviceId);
  }

  /** Drops the device's tunnel and every connection it has open (device removed or re-enrolled). */
  disconnect(deviceId: string): void {
    this.visitorPolicy.forget(deviceId);
    const tunnel = this.tunnels.get(deviceId);
    if (tunnel) void this.closeTunnel(tunnel, 'disconnected by server');
    for (const conn of this.connections) if (conn.deviceId === deviceId) endConnection(conn);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    const tunnelsClosed = [...this.tunnels.values()].map((t) => this.closeTunnel(t, 'gateway closing'));
    const attached = new Set<net.Socket | undefined>();
    for (const conn of this.connections) {
      attached.add(conn.socket);
      endConnection(conn);
    }
    // Still in the handshake: nobody to say goodbye to.
    for (const { socket } of this.sockets.values()) if (!attached.has(socket)) socket.destroy();
    await Promise.all([stopped, ...tunnelsClosed]);
  }

  private acceptSocket(socket: net.Socket): void {
    // ssh2 also reports socket errors on the client once attached; this one only keeps them from crashing us.
    socket.on('error', (err) => this.log.info({ err: err.message, remote: socket.remoteAddress }, 'gateway socket error'));
    if (this.closing) {
      socket.destroy();
      return;
    }
    const source = sourceOf(socket.remoteAddress);
    // Refused before any SSH work, with a reset so not even a TIME_WAIT is left behind:
    // a source serving a penalty, too many logins under way (everyone is back after a
    // restart), or too many from this source.
    if (this.penalties?.refuses(source)) {
      this.refusedPenalised++;
      return void socket.resetAndDestroy();
    }
    const endHandshake = this.handshakes.tryAcquire(source);
    if (typeof endHandshake === 'string') return void socket.resetAndDestroy();
    socket.setNoDelay(true);
    batchWritesPerTick(socket);
    socket.setKeepAlive(true, this.keepaliveIntervalMs);
    const key = remoteKey(socket.remoteAddress, socket.remotePort);
    const expire = () => {
      raw.outcome = 'grace-exceeded';
      socket.destroy();
    };
    const raw: RawConnection = {
      socket,
      endHandshake,
      outcome: 'noauth',
      loginTimer: setTimeout(expire, loginGraceMs).unref(),
      versionTimer: setTimeout(expire, this.options.versionTimeoutMs ?? defaultVersionTimeoutMs).unref(),
    };
    this.sockets.set(key, raw);
    socket.once('close', () => {
      endHandshake();
      clearTimeout(raw.loginTimer);
      clearTimeout(raw.versionTimer);
      if (this.sockets.get(key)?.socket === socket) this.sockets.delete(key);
      if (raw.outcome) this.penalties?.penalise(source, raw.outcome);
    });
    this.ssh.injectSocket(socket);
  }

  /** ssh2 emits 'connection' once the client's version line has arrived. */
  private attach(client: Connection, info: ClientInfo): void {
    // ssh2 does not hand out the socket; the remote address and port identify it.
    const raw = this.sockets.get(remoteKey(info.ip, info.port));
    if (raw) clearTimeout(raw.versionTimer);
    const conn: DeviceConnection = {
      client,
      socket: raw?.socket,
      remote: info.ip,
      deviceId: null,
      failedLogins: 0,
      closed: false,
      ending: false,
      requests: new RequestBudget(this.now()),
      webForwards: new Map(),
    };
    this.connections.add(conn);
    const who = () => ({ deviceId: conn.deviceId, remote: conn.remote });
    const startedAt = performance.now();

    client.on('error', (err: Error & { level?: string }) => {
      this.log.warn({ ...who(), err: err.message, level: err.level }, 'device connection error');
      // ssh2 only ends the connection on keepalive timeout; a dead peer never answers the
      // FIN, so the socket (and the device's "online") would linger for TCP's own timeout.
      if (err.level === 'client-timeout') conn.socket?.destroy();
    });
    client.on('authentication', (ctx) => void this.authenticate(conn, ctx, raw));
    client.on('ready', () => {
      // Logged in: from here on ssh2's keepalives decide whether the device is still there.
      if (raw) {
        clearTimeout(raw.loginTimer);
        raw.endHandshake();
        raw.outcome = null;
        // A device's downloads are read into pooled slabs while they last (not before login:
        // a stranger's bytes get no more than Node's own reads).
        readIntoSlabsWhileBusy(raw.socket);
      }
      this.log.info(who(), 'device authenticated');
      this.options.onHandshake?.(performance.now() - startedAt);
    });
    client.on('close', () => {
      conn.closed = true;
      this.connections.delete(conn);
      if (conn.deviceId !== null) this.perKey.forget(conn.deviceId, conn);
      const tunnel = conn.deviceId === null ? undefined : this.tunnels.get(conn.deviceId);
      // A connection that was replaced no longer owns the tunnel and must not take it down.
      if (tunnel?.owner === conn) void this.closeTunnel(tunnel, 'connection closed');
      this.log.info(who(), 'device connection closed');
    });

    // ssh2 refuses some of these by itself only when nobody listens; the gateway's
    // security model should not depend on that, so each is refused here by name.
    client.on('session', (_accept, reject) => {
      this.log.warn(who(), 'refused session channel (no shell, exec or subsystem on the gateway)');
      reject();
    });
    client.on('tcpip', (_accept, reject, info) => {
      this.log.warn({ ...who(), destIP: info.destIP, destPort: info.destPort }, 'refused direct-tcpip channel');
      reject();
    });
    client.on('openssh.streamlocal', (_accept, reject) => {
      this.log.warn(who(), 'refused direct-streamlocal channel');
      reject();
    });
    client.on('request', (accept: Reply, reject: Reply, name: string, info: TcpipBindInfo | SocketBindInfo) => {
      if (!conn.requests.spend(this.now())) {
        this.log.warn({ ...who(), request: name }, 'refused global request: too many, too fast');
        return reject?.();
      }
      const web = 'bindPort' in info && webPorts.includes(info.bindPort);
      if (name === 'tcpip-forward' && web) this.forwardWeb(conn, info as TcpipBindInfo, accept, reject);
      else if (name === 'cancel-tcpip-forward' && web) this.cancelWebForward(conn, info as TcpipBindInfo, accept, reject);
      else if (name === 'tcpip-forward' && 'bindPort' in info) void this.forward(conn, info, accept, reject);
      else if (name === 'cancel-tcpip-forward' && 'bindPort' in info) this.cancelForward(conn, info, accept, reject);
      else {
        this.log.warn({ ...who(), request: name }, 'refused global request');
        reject?.();
      }
    });
  }

  private async authenticate(conn: DeviceConnection, ctx: AuthContext, raw: RawConnection | undefined): Promise<void> {
    const refuse = (why: string) => {
      ctx.reject(['publickey']);
      // 'none' is how every client asks which methods exist; it is not a guess.
      if (ctx.method === 'none') return;
      if (raw) raw.outcome = 'authfail';
      this.log.warn({ deviceId: ctx.username, remote: conn.remote, method: ctx.method }, why);
      if (++conn.failedLogins >= maxFailedLogins) endConnection(conn);
    };
    if (ctx.method !== 'publickey') return refuse('refused login: only publickey is accepted');
    const device = await this.lookup(ctx.username);
    const key = device ? parseDeviceKey(device.publicKey) : null;
    // The key must be the device's own, byte for byte; the ID alone proves nothing.
    if (!key || ctx.key.algo !== key.type || !ctx.key.data.equals(key.getPublicSSH())) {
      return refuse('refused login: unknown device or not its key');
    }
    // Without a signature the client only asks whether this key would do (SSH_MSG_USERAUTH_PK_OK).
    if (!ctx.signature) return ctx.accept();
    if (!ctx.blob || !verifyEd25519(key, ctx.blob, ctx.signature)) return refuse('refused login: bad signature');
    conn.deviceId = ctx.username;
    // The newest login always wins: someone holding a stolen key cannot lock the real agent out.
    for (const old of this.perKey.admit(conn.deviceId, conn, this.tunnels.get(conn.deviceId)?.owner)) {
      this.log.warn({ deviceId: conn.deviceId, remote: old.remote }, 'too many connections for this device key; ending the oldest');
      endConnection(old);
    }
    ctx.accept();
  }

  private async forward(conn: DeviceConnection, info: TcpipBindInfo, accept: Reply, reject: Reply): Promise<void> {
    const deviceId = conn.deviceId;
    if (deviceId === null) return reject?.();
    const device = await this.lookup(deviceId);
    if (!device || info.bindPort !== device.sshPort || conn.closed || this.closing) {
      this.log.warn({ deviceId, bindPort: info.bindPort, assigned: device?.sshPort }, 'refused tcpip-forward');
      return reject?.();
    }

    let tunnel = this.tunnels.get(deviceId);
    if (tunnel && tunnel.port !== device.sshPort) {
      // The assignment changed since the old forward: it must not keep serving.
      await this.closeTunnel(tunnel, 'assigned port changed');
      tunnel = this.tunnels.get(deviceId);
    }
    if (!tunnel) {
      tunnel = this.openTunnel(conn, device.sshPort, info.bindAddr, device.publicPortOpen !== false);
    } else if (tunnel.owner !== conn) {
      // A device reconnecting (new NAT mapping, agent restart) takes its port over;
      // the listener stays up, so the device never looks offline in between.
      const previous = tunnel.owner;
      tunnel.owner = conn;
      tunnel.bindAddr = info.bindAddr;
      endConnection(previous);
      this.log.info({ deviceId, port: tunnel.port }, 'tunnel taken over by a newer connection');
    }

    const ok = await tunnel.ready;
    if (!ok || tunnel.closed || tunnel.owner !== conn || conn.closed) return reject?.();
    accept?.();
    if (this.options.nudges) openNudgeChannel(conn.client, info, deviceId, this.options.nudges, this.log);
    if (!tunnel.up) {
      tunnel.up = true;
      this.log.info({ deviceId, port: tunnel.port }, 'tunnel up');
      this.notify('onTunnelUp', deviceId);
    }
  }

  /** A web forward is only recorded: the name the front doors route by is the device's own, so no port is at stake. */
  private forwardWeb(conn: DeviceConnection, info: TcpipBindInfo, accept: Reply, reject: Reply): void {
    if (conn.deviceId === null || conn.closed || this.closing) return reject?.();
    conn.webForwards.set(info.bindPort, info.bindAddr);
    accept?.();
  }

  private cancelWebForward(conn: DeviceConnection, info: TcpipBindInfo, accept: Reply, reject: Reply): void {
    if (!conn.webForwards.delete(info.bindPort)) return reject?.();
    accept?.();
  }

  /**
   * Opens a channel to a web port of an online device, for a front door that has already
   * decided, by name, that this device is the one. Fails when the device's tunnel is down
   * or its current connection does not forward that port.
   */
  openWebChannel(deviceId: string, port: number, remoteAddress: string, remotePort: number): Promise<ServerChannel> {
    const tunnel = this.tunnels.get(deviceId);
    if (!tunnel?.up || tunnel.closed || tunnel.owner.closed) return Promise.reject(new TunnelUnavailableError('offline'));
    const bindAddr = tunnel.owner.webForwards.get(port);
    if (bindAddr === undefined) return Promise.reject(new TunnelUnavailableError('not_forwarded'));
    return new Promise((resolve, reject) => {
      tunnel.owner.client.forwardOut(bindAddr, port, remoteAddress, remotePort, (err, channel) => {
        if (err) reject(new TunnelUnavailableError('refused'));
        else resolve(channel);
      });
    });
  }

  /**
   * Opens a channel to the device's own forward, marked as the server's benchmark (an
   * originator no visitor can have: theirs is an IP address), for timing the tunnel.
   */
  openBenchmarkChannel(deviceId: string): Promise<ServerChannel> {
    return this.openSshChannel(deviceId, tunnelBenchmarkOrigin, 0);
  }

  /**
   * Opens a channel to the device's SSH forward for a renter whose connection arrived
   * elsewhere: another node of a cluster (cluster/node-link.ts), or this node's rental
   * port listener in a cluster (cluster/rental-ports.ts).
   */
  openSshChannel(deviceId: string, remoteAddress: string, remotePort: number): Promise<ServerChannel> {
    const tunnel = this.tunnels.get(deviceId);
    if (!tunnel?.up || tunnel.closed || tunnel.owner.closed) return Promise.reject(new TunnelUnavailableError('offline'));
    return new Promise((resolve, reject) => {
      tunnel.owner.client.forwardOut(tunnel.bindAddr, tunnel.port, remoteAddress, remotePort, (err, channel) => {
        if (err) reject(new TunnelUnavailableError('refused'));
        else resolve(channel);
      });
    });
  }

  private cancelForward(conn: DeviceConnection, info: TcpipBindInfo, accept: Reply, reject: Reply): void {
    const tunnel = conn.deviceId === null ? undefined : this.tunnels.get(conn.deviceId);
    if (!tunnel || tunnel.owner !== conn || tunnel.port !== info.bindPort) return reject?.();
    void this.closeTunnel(tunnel, 'forward cancelled');
    accept?.();
  }

  private openTunnel(owner: DeviceConnection, port: number, bindAddr: string, listen: boolean): Tunnel {
    const deviceId = owner.deviceId as string;
    let settle: (ok: boolean) => void = () => {};
    const ready = new Promise<boolean>((resolve) => (settle = resolve));
    const tunnel: Tunnel = { deviceId, port, bindAddr, owner, listener: null, sockets: new Set(), ready, settle, up: false, closed: false };
    this.tunnels.set(deviceId, tunnel);
    if (!listen) {
      tunnel.settle(true);
      return tunnel;
    }
    void this.listenPublic(tunnel).then((ok) => {
      // A port that cannot be bound fails the forward, and the device retries.
      if (!ok && this.tunnels.get(deviceId) === tunnel) this.tunnels.delete(deviceId);
      if (!ok) tunnel.closed = true;
      tunnel.settle(ok && !tunnel.closed);
    });
    return tunnel;
  }

  /** Opens the device's public SSH port; resolves false if it cannot be bound or the tunnel closed meanwhile. */
  private listenPublic(tunnel: Tunnel): Promise<boolean> {
    if (tunnel.listener) return Promise.resolve(true);
    // Half-open so a client that sends its request and shuts down writing still gets the reply.
    // Paused: nothing is read until the visitor's channel is open (then into SSH packets, acceptPublic).
    const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    tunnel.listener = listener;
    listener.on('connection', (socket) => void this.acceptPublic(tunnel, socket));
    return new Promise((resolve) => {
      listener.once('listening', () => {
        const current = !tunnel.closed && tunnel.listener === listener;
        if (!current) listener.close();
        resolve(current);
      });
      listener.on('error', (err: NodeJS.ErrnoException) => {
        this.log.warn({ deviceId: tunnel.deviceId, port: tunnel.port, code: err.code, err: err.message }, 'public listener error');
        // Once listening, errors come from accept (EMFILE and the like) and the listener carries on.
        if (listener.listening) return;
        if (tunnel.listener === listener) tunnel.listener = null;
        resolve(false);
      });
      listener.listen(tunnel.port, this.options.publicBindHost);
    });
  }

  /** Closes the device's public SSH port and drops its visitors; the tunnel stays up. */
  private closePublic(tunnel: Tunnel): Promise<void> {
    const listener = tunnel.listener;
    tunnel.listener = null;
    for (const socket of tunnel.sockets) socket.destroy();
    return new Promise((resolve) => (listener?.listening ? listener.close(() => resolve()) : resolve()));
  }

  /**
   * Opens or closes a device's public SSH port to match its current policy; the server
   * calls this when a rental starts or ends. A device whose policy is gone is disconnected.
   */
  async refresh(deviceId: string): Promise<void> {
    this.visitorPolicy.forget(deviceId);
    const tunnel = this.tunnels.get(deviceId);
    if (!tunnel || tunnel.closed) return;
    const device = await this.lookup(deviceId);
    if (tunnel.closed || this.tunnels.get(deviceId) !== tunnel) return;
    if (!device || device.sshPort !== tunnel.port) return this.disconnect(deviceId);
    if (device.publicPortOpen === false) {
      if (tunnel.listener) this.log.info({ deviceId, port: tunnel.port }, 'public SSH port closed');
      return this.closePublic(tunnel);
    }
    if (tunnel.listener) return;
    if (await this.listenPublic(tunnel)) this.log.info({ deviceId, port: tunnel.port }, 'public SSH port open');
    else this.log.warn({ deviceId, port: tunnel.port }, 'could not open the public SSH port');
  }

  private closeTunnel(tunnel: Tunnel, reason: string): Promise<void> {
    if (tunnel.closed) return Promise.resolve();
    tunnel.closed = true;
    tunnel.settle(false);
    this.visitorPolicy.forget(tunnel.deviceId);
    if (this.tunnels.get(tunnel.deviceId) === tunnel) this.tunnels.delete(tunnel.deviceId);
    const closed = this.closePublic(tunnel);
    if (tunnel.up) {
      tunnel.up = false;
      this.log.info({ deviceId: tunnel.deviceId, port: tunnel.port, reason }, 'tunnel down');
      this.notify('onTunnelDown', tunnel.deviceId);
    }
    return closed;
  }

  private async acceptPublic(tunnel: Tunnel, socket: net.Socket): Promise<void> {
    socket.on('error', (err) => this.log.info({ deviceId: tunnel.deviceId, err: err.message }, 'public socket error'));
    socket.setNoDelay(true);
    if (tunnel.sockets.size >= (this.options.maxConnectionsPerDevice ?? Infinity)) {
      this.log.warn({ deviceId: tunnel.deviceId, port: tunnel.port }, 'too many connections to this device; refusing');
      return void socket.destroy();
    }
    tunnel.sockets.add(socket);
    socket.once('close', () => tunnel.sockets.delete(socket));

    // Bytes that arrive meanwhile wait in the kernel: nothing reads the socket until it is piped.
    let device: TunnelDevice | null;
    try {
      device = await this.visitorPolicy.get(tunnel.deviceId);
    } catch (err) {
      // Refuse this connection, but a policy store hiccup is no reason to drop the device.
      this.log.warn({ deviceId: tunnel.deviceId, err }, 'device lookup failed; refusing public connection');
      return void socket.destroy();
    }
    if (tunnel.closed || socket.destroyed) return void socket.destroy();
    if (!device || device.sshPort !== tunnel.port) {
      this.log.warn({ deviceId: tunnel.deviceId, port: tunnel.port }, 'device no longer allowed this port; disconnecting');
      socket.destroy();
      this.disconnect(tunnel.deviceId);
      return;
    }
    if (device.publicPortOpen === false) {
      // The rental ended since the port opened: close it rather than carry a visitor in.
      socket.destroy();
      void this.closePublic(tunnel);
      return;
    }
    this.options.onPublicConnection?.(device, socket);

    const owner = tunnel.owner;
    if (owner.closed) return void socket.destroy();
    owner.client.forwardOut(tunnel.bindAddr, tunnel.port, socket.remoteAddress ?? '', socket.remotePort ?? 0, (err, channel) => {
      if (err) {
        this.log.info({ deviceId: tunnel.deviceId, err: err.message }, 'device refused forwarded connection');
        socket.destroy();
      } else if (socket.destroyed || tunnel.closed) channel.close();
      else {
        // The visitor's reads land in SSH packets where the payload goes and leave encrypted
        // where they lie: no Buffer per read and no copy per packet (an upload's whole path).
        readIntoPackets(socket);
        // The channel's data, decrypted in the tunnel's read slabs, ends here: once written,
        // the slabs go back to their pool.
        releaseSlabsOnWrite(socket);
        splice(socket, channel);
      }
    });
  }

  /** The callbacks are the caller's code; a throw there must not take the gateway down. */
  private notify(event: 'onTunnelUp' | 'onTunnelDown', deviceId: string): void {
    try {
      this.options[event]?.(deviceId);
    } catch (err) {
      this.log.warn({ deviceId, err }, `${event} threw`);
    }
  }

  /** Policy lookups fail closed: an error counts as "no such device". */
  private async lookup(deviceId: string): Promise<TunnelDevice | null> {
    try {
      return await this.options.lookupDevice(deviceId);
    } catch (err) {
      this.log.warn({ deviceId, err }, 'device lookup failed; refusing');
      return null;
    }
  }
}

/** Ends politely, then for sure: the peer of a replaced or dropped connection is often already gone. */
function endConnection(conn: DeviceConnection): void {
  conn.ending = true;
  conn.client.end();
  const socket = conn.socket;
  if (socket) setTimeout(() => socket.destroy(), closeGraceMs).unref();
}

function remoteKey(address: string | undefined, port: number | undefined): string {
  return `${address ?? ''}|${port ?? ''}`;
}

function parseDeviceKey(line: string): ParsedKey | null {
  const parsed = sshUtils.parseKey(line);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error || key.type !== 'ssh-ed25519') return null;
  return key;
}

/**
 * Joins a public socket and a forwarded channel, keeping TCP half-close: ssh2 closes a
 * server-side channel outright when its writable side ends, so the socket's FIN is
 * turned into a bare SSH EOF instead, sent after everything written before it.
 */
export function splice(socket: net.Socket, channel: ServerChannel): void {
  channel.on('error', () => socket.destroy());
  channel.pipe(socket);
  socket.pipe(channel, { end: false });
  whenEnded(socket, () => channel.write(Buffer.alloc(0), () => channel.eof()));
  socket.once('close', () => channel.close());
  channel.once('close', () => {
    // Usually the pipe has ended the socket already: ending it again costs an error object.
    if (socket.destroyed) return;
    if (!socket.writableEnded) socket.end();
    setTimeout(() => socket.destroy(), lingerMs).unref();
  });
}

/**
 * Runs `fn` once `stream` has ended, also when it already has: a visitor that sends its
 * FIN before the channel is ready (a bare half-close) has had its 'end' event already.
 */
export function whenEnded(stream: NodeJS.ReadableStream & { readableEnded: boolean }, fn: () => void): void {
  if (stream.readableEnded) queueMicrotask(fn);
  else stream.once('end', fn);
}
