import { connect, type Socket } from 'node:net';
import type { Registration } from '@p2pvps/protocol/agent-schemas';
import { tunnelBenchmarkOrigin } from '@p2pvps/protocol/benchmark';
import { timing } from '@p2pvps/protocol/timing';
import { signingKey } from '@p2pvps/protocol/ssh-keys';
import { tunnelNudgeOrigin, tunnelSshAlgorithms } from '@p2pvps/protocol/tunnel-ssh';
import { batchWritesPerTick } from '@p2pvps/protocol/batched-writes';
import { connectWithPacketReads, connectWithSlabReads, readsOnlyInto, releaseSlabsOnWrite } from '@p2pvps/protocol/socket-reads';
import ssh2 from 'ssh2';
import { Backoff } from './backoff.ts';
import { SshKexGate } from './ssh-kex-gate.ts';

export interface TunnelClientOptions {
  registration: Registration;
  privateKey: string;
  /** Where renter SSH connections arriving over the tunnel are delivered (the container's sshd). */
  localPort: number;
  /** Where web connections for the device's name are delivered: public port (80, 443) → loopback port. */
  webPorts?: ReadonlyMap<number, number>;
  log: (level: 'error' | 'info' | 'warn' | 'debug', msg: string) => void;
  onStateChange?: (up: boolean) => void;
  /** True while a rental's container is being started: web connections wait for it. */
  containerStarting?: () => boolean;
  /**
   * What to do with a renter's SSH connection now (default: deliver): wait while a rental is
   * on its way to the container, refuse when there is none (a prepared container is nobody's
   * yet).
   */
  renterSsh?: () => RenterSshPolicy;
  /** Takes the server's nudge channel, opened by the gateway on each tunnel connection (tunnel-nudges.ts). */
  nudges?: (channel: ssh2.ClientChannel) => void;
  /** Serves the server's throughput measurement during a benchmark challenge (benchmark/tunnel-source.ts). */
  benchmarkSource?: { serve(channel: ssh2.ClientChannel): void };
  /**
   * The gateway to connect to now (a cluster's current node, server-nodes.ts); the registration's by default.
   * A backup peer's gateway (home-failover.ts) brings its own host key to pin and the port it gave this device.
   */
  gateway?: () => { host: string; port: number; hostKey?: string; sshPort?: number };
  /** A connection to `gateway` failed before it was up: the agent moves to another node. */
  unreachable?: (gateway: { host: string; port: number }) => void;
  /** The ciphers to offer, best first (tunnel-cipher.ts); the protocol's list by default. */
  ciphers?: ssh2.CipherAlgorithm[];
}

/**
 * deliver: to the container's sshd; wait: held here until that; kex: a prepared container's
 * sshd is being handed over, so the key exchange may begin (authentication waits); refuse:
 * no rental.
 */
export type RenterSshPolicy = 'deliver' | 'wait' | 'kex' | 'refuse';

const waitForContainerMs = 30_000;
/** How often a held renter connection looks again whether its container is ready: a look is a function call. */
const heldConnectionPollMs = 5;

/**
 * Keeps one outbound SSH connection to the gateway with the device's assigned port
 * forwarded, reconnecting with jittered backoff for as long as it is not closed.
 */
export class TunnelClient {
  private client: ssh2.Client | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff();
  /** Parsed and decoded once, not on every reconnect. */
  private key: ssh2.ParsedKey | undefined;
  up = false;

  private warnedHostKey = false;
  constructor(private readonly o: TunnelClientOptions) {}

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const { registration: reg } = this.o;
    // Every node of a cluster shows the host key pinned at registration.
    const gateway: { host: string; port: number; hostKey?: string; sshPort?: number } = this.o.gateway?.() ?? reg.gateway;
    const sshPort = gateway.sshPort ?? reg.sshPort;
    let wasUp = false;
    const expectedHostKey = Buffer.from((gateway.hostKey ?? reg.gateway.hostKey).split(/\s+/)[1] ?? '', 'base64');
    const client = new ssh2.Client();
    this.client = client;
    client.on('ready', () => {
      client.forwardIn('127.0.0.1', sshPort, (err) => {
        if (err) {
          this.o.log('warn', `the gateway refused to forward port ${sshPort}: ${err.message}`);
          client.end();
          return;
        }
        this.backoff.reset();
        wasUp = true;
        this.setUp(true);
        this.o.log('info', `tunnel up: ${gateway.host}:${gateway.port}, port ${sshPort} → 127.0.0.1:${this.o.localPort}`);
        for (const [port, local] of this.o.webPorts ?? []) {
          client.forwardIn('127.0.0.1', port, (webErr) => {
            if (webErr) this.o.log('warn', `the gateway refused to carry web port ${port}: ${webErr.message}`);
            else this.o.log('debug', `web port ${port} → 127.0.0.1:${local}`);
          });
        }
      });
    });
    client.on('tcp connection', (info, accept, reject) => {
      // The server's own benchmark channel: its originator is a name no visitor's address can be.
      if (info.srcIP === tunnelBenchmarkOrigin) return this.o.benchmarkSource ? this.o.benchmarkSource.serve(accept()) : reject();
      // The server's nudges: likewise named, not addressed.
      if (info.srcIP === tunnelNudgeOrigin) return this.o.nudges ? this.o.nudges(accept()) : reject();
      const local = info.destPort === sshPort ? this.o.localPort : this.o.webPorts?.get(info.destPort);
      if (local === undefined) return reject();
      if (local === this.o.localPort) this.deliverRenterSsh(accept, reject, Date.now());
      else this.deliver(local, accept, reject, Date.now());
    });
    client.on('error', (err) => this.o.log('debug', `tunnel error: ${err.message}`));
    client.on('close', () => {
      // Replaced by reconnectNow(): the new connection is in charge.
      if (this.client !== client) return;
      this.setUp(false);
      if (this.closed) return;
      // A tunnel that was up is tried again where it was (a blip of the device's own network);
      // one that never came up there sends the agent to the next node.
      if (!wasUp) this.o.unreachable?.(gateway);
      const delay = this.backoff.next();
      this.o.log('info', `tunnel down; reconnecting in ${delay} ms`);
      this.timer = setTimeout(() => this.connect(), delay);
    });
    // Reads side by side in memory: ssh2 decrypts a packet that straddles two reads where it lies.
    const sock = connectWithSlabReads({ host: gateway.host, port: gateway.port });
    sock.setNoDelay(true);
    batchWritesPerTick(sock);
    sock.on('error', (err) => this.o.log('debug', `tunnel socket error: ${err.message}`));
    const publicKeyAuth: ssh2.PublicKeyAuthMethod = {
      type: 'publickey',
      username: reg.deviceId,
      key: (this.key ??= signingKey(this.o.privateKey)),
    };
    client.connect({
      sock,
      username: reg.deviceId,
      // Only this way does ssh2 take an already parsed key (its privateKey option wants text).
      authHandler: [publicKeyAuth],
      keepaliveInterval: timing.tunnelKeepaliveMs,
      keepaliveCountMax: timing.tunnelKeepaliveCountMax,
      readyTimeout: 20_000,
      algorithms: this.o.ciphers ? { ...tunnelSshAlgorithms, cipher: this.o.ciphers } : tunnelSshAlgorithms,
      // Pin the gateway's host key learned at registration (over https): no trust on first
      // use, and a changed key is never taken, whatever else the server says.
      hostVerifier: (key: Buffer) => {
        if (key.equals(expectedHostKey)) return true;
        if (!this.warnedHostKey)
          this.o.log(
            'error',
            `the gateway at ${gateway.host}:${gateway.port} shows a host key other than the one pinned at registration; not connecting (if the server's key really changed, enrol this device again)`,
          );
        this.warnedHostKey = true;
        return false;
      },
    });
  }

  /**
   * A renter's SSH connection waits while their container is handed over or started, and is
   * delivered the moment it is ready: one connection, not retries. While a prepared
   * container's sshd is being handed over ('kex') the connection goes to that sshd at once
   * through an SshKexGate: the key exchange runs while the hand-over does, and the client's
   * first encrypted packet (authentication) reaches sshd only once the container is the
   * renter's. None reaches a prepared container's sshd before the renter's account is in it.
   */
  private deliverRenterSsh(accept: () => ssh2.ServerChannel | ssh2.ClientChannel, reject: () => void, since: number): void {
    const policy = this.o.renterSsh?.() ?? 'deliver';
    if (policy === 'deliver') return this.deliver(this.o.localPort, accept, reject, since);
    if (policy === 'refuse' || this.closed || Date.now() - since >= waitForContainerMs) return reject();
    if (policy === 'kex') return this.deliverThroughGate(accept, reject, since);
    setTimeout(() => this.deliverRenterSsh(accept, reject, since), heldConnectionPollMs);
  }

  /**
   * The connection to the prepared container's sshd, once sshd has said hello (a published
   * port may accept before sshd listens); the gate opens when the container is the renter's.
   */
  private deliverThroughGate(accept: () => ssh2.ServerChannel | ssh2.ClientChannel, reject: () => void, since: number): void {
    const upstream = connect({ host: '127.0.0.1', port: this.o.localPort, allowHalfOpen: true });
    upstream.setNoDelay(true);
    const retry = (): void => {
      upstream.destroy();
      setTimeout(() => this.deliverRenterSsh(accept, reject, since), heldConnectionPollMs);
    };
    upstream.once('error', retry);
    upstream.once('end', retry);
    upstream.once('data', (hello: Buffer) => {
      upstream.off('error', retry).off('end', retry);
      upstream.pause();
      const gate = new SshKexGate();
      const channel = accept();
      channel.write(hello);
      this.join(channel, upstream, gate);
      const watch = (): void => {
        if (gate.destroyed || upstream.destroyed) return;
        const now = this.o.renterSsh?.() ?? 'deliver';
        if (now === 'deliver') return gate.open();
        if (now === 'refuse' || this.closed || Date.now() - since >= waitForContainerMs) return void upstream.destroy();
        setTimeout(watch, heldConnectionPollMs);
      };
      watch();
    });
  }

  /**
   * Connects a renter's connection to the container's sshd. While a container is still
   * starting the connection waits for it, so `ssh` right after `rent` just works.
   */
  private deliver(port: number, accept: () => ssh2.ServerChannel | ssh2.ClientChannel, reject: () => void, since: number): void {
    // Half-open both ways: each side's FIN travels on as the other's, after its last byte.
    // Read into SSH packets: what is read goes out as a packet where it lies (only ever piped into the channel).
    const upstream = connectWithPacketReads({ host: '127.0.0.1', port, allowHalfOpen: true });
    upstream.setNoDelay(true);
    upstream.once('connect', () => {
      const channel = accept();
      // Its reads go into the channel only (join's pipe), which copies them into packets.
      readsOnlyInto(upstream, channel);
      this.join(channel, upstream);
    });
    upstream.once('error', () => {
      if (!this.closed && this.o.containerStarting?.() && Date.now() - since < waitForContainerMs) {
        // Often: a prepared container's sshd comes up within tens of ms of the rent (a connect to loopback is cheap).
        setTimeout(() => this.deliver(port, accept, reject, since), 20);
      } else {
        reject();
      }
    });
  }

  /** Pipes a tunnel channel and its local connection into each other, the client's side through `gate` if given. */
  private join(channel: ssh2.ServerChannel | ssh2.ClientChannel, upstream: Socket, gate?: SshKexGate): void {
    let ended = false;
    upstream.once('end', () => (ended = true));
    // One read of the tunnel (up to 1 MiB, slab-reads) carries many packets: their data leaves as one writev.
    batchWritesPerTick(upstream);
    // The tunnel's read slabs go back to their pool once written here (the gate may hold data: not through it).
    if (!gate) releaseSlabsOnWrite(upstream);
    (gate ? channel.pipe(gate) : channel).pipe(upstream).pipe(channel);
    channel.on('error', () => upstream.destroy());
    channel.on('close', () => upstream.destroy());
    upstream.on('error', () => channel.close());
    // An orderly end reached the channel through the pipe as EOF; closing it here would
    // drop what ssh2 still holds back for the window (the tail of a download).
    upstream.on('close', () => ended || channel.close());
  }

  /** Drops the connection and opens a new one at once, to wherever `gateway` says now (home-failover.ts). */
  reconnectNow(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const old = this.client;
    this.client = undefined;
    old?.end();
    old?.destroy();
    this.setUp(false);
    this.backoff.reset();
    this.connect();
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    this.o.onStateChange?.(up);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.client?.end();
    this.client?.destroy();
  }
}
