import type { AgentEvent, DesiredRental, HeartbeatReply, NodeAddress } from '@p2pvps/protocol/agent-schemas';
import { AppInstaller } from './app-installer.ts';
import { execInContainer } from './docker/container-exec.ts';
import { ApiError } from '@p2pvps/protocol/route-client';
import { deviceAuthAudience } from '@p2pvps/protocol/device-auth';
import { timing } from '@p2pvps/protocol/timing';
import { agentProtocol, version } from '@p2pvps/protocol/version';
import Docker from 'dockerode';
import { Backoff } from './backoff.ts';
import { serverApi, type ServerApi } from './server-http.ts';
import { BenchmarkRunner } from './benchmark/benchmark-runner.ts';
import { TunnelBenchmarkSource } from './benchmark/tunnel-source.ts';
import { readConfigFile, type AgentConfig } from './config.ts';
import { findLxcfs } from './docker/lxcfs.ts';
import { RenterContainers } from './docker/renter-containers.ts';
import { checkRuntime, type RuntimeOnEngine } from './docker/container-runtime.ts';
import { probeHardware } from './hardware.ts';
import { uncappedRootWarning } from './docker/root-disk.ts';
import { RenterIsolation } from './network/isolation.ts';
import { IsolationWatch } from './network/isolation-watch.ts';
import { deviceSigner, loadOrCreateDeviceKey, SigningClock, type DeviceKey } from './identity.ts';
import { classifyRefusal } from './server-refusals.ts';
import { clockDifference, confirmRevocation, correctSigning, heartbeatIntervalWithin, signatureRefused } from './server-trust.ts';
import { RentalRunner, sentence } from './rental-runner.ts';
import { ServerNodes } from './server-nodes.ts';
import { RenterStorage } from './storage/renter-storage.ts';
import { TunnelClient, type RenterSshPolicy } from './tunnel-client.ts';
import { readNudges } from './tunnel-nudges.ts';
import { HomeFailover, probeServer } from './home-failover.ts';
import { tunnelCiphersHere } from './tunnel-cipher.ts';

/** The server's nudge when a rental is made for this device (domain/rentals/rentals.ts). */
const rentalRequested = 'rental_requested';
/** How long after that nudge a renter's connection waits for the rental to reach this agent. */
const rentalRequestedWaitMs = 10_000;

export type AgentLog = (level: 'error' | 'warn' | 'info' | 'debug', msg: string) => void;

export interface AgentSideEffects {
  /** The clock (ms since the epoch) for the offline rules; Date.now unless a test injects one. */
  now?: () => number;
  /** How long an active rental is kept while the server is unreachable; timing.dataKeepMs by default. */
  dataKeepMs?: number;
  /** The wait before each of the two questions that confirm a revocation; 15 s by default. */
  revocationConfirmDelayMs?: number;
}

/**
 * The governor on the device: the sync loop. It converges on what the server wants:
 * register once, keep the tunnel up (the server's nudges ride it), and on every heartbeat or nudge
 * hand the rental the server names to the rental runner (rental-runner.ts), which makes
 * the Docker engine run exactly that (or nothing, wiped).
 */
export class Agent {
  private readonly key: DeviceKey;
  /** The state file, the renter storage and the renter's container. */
  private readonly runner: RentalRunner;
  private api: ServerApi;
  /** The server's nodes (one for a single server) and the one the agent talks to now. */
  private nodes: ServerNodes | undefined;
  /** A signed client per node's API. */
  private readonly nodeApis = new Map<string, ServerApi>();
  private tunnel: TunnelClient | undefined;
  /** Moves the tunnel to a backup peer while the home server is unreachable (home-failover.ts). */
  private failover: HomeFailover | undefined;
  private readonly now: () => number;
  /** A new rental a nudge carried, and the server's time of that nudge, for the next sync to start on. */
  private nudgedRental: { rental: DesiredRental; at: number } | undefined;
  /** The server's time in its last heartbeat reply: a nudge older than it is stale. */
  private lastReplyAt = 0;
  private containers: RenterContainers | undefined;
  /** The cap on a rental's / (docker/root-disk.ts): null where the engine cannot cap it, undefined until asked. */
  private systemDiskBytes: number | null | undefined;
  /** The firewall rules and bandwidth caps of the renter network; none with host networking (tests). */
  private isolation: RenterIsolation | undefined;
  /** Puts the isolation back while a rental runs, should another tool flush the firewall. */
  private isolationWatch: IsolationWatch | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatIntervalMs = timing.heartbeatIntervalMs;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  /** When the server last said a rental is on its way (0: not since the last sync). */
  private rentalRequestedAt = 0;
  private closed = false;
  private readonly docker: Docker;
  // The runtime as the engine runs it, checked in start().
  private runtime: RuntimeOnEngine | undefined;
  private readonly syncBackoff = new Backoff(1000, 60_000);
  private readonly storageRetry = new Backoff(2000, 60_000);
  /** The signatures' clock: this device's, corrected by the server's time. */
  private readonly signingClock: SigningClock;
  private sign: ((method: string, path: string, body: string) => string) | undefined;
  private readonly revocationConfirmDelayMs: number;
  // Verified hardware (benchmark/): answers the server's challenges while idle.
  private benchmarks: BenchmarkRunner | undefined;
  private readonly benchmarkSource = new TunnelBenchmarkSource();

  constructor(
    private readonly config: AgentConfig,
    private readonly log: AgentLog,
    effects: AgentSideEffects = {},
  ) {
    const now = effects.now ?? Date.now;
    this.now = now;
    this.signingClock = new SigningClock(now);
    this.revocationConfirmDelayMs = effects.revocationConfirmDelayMs ?? 15_000;
    this.key = loadOrCreateDeviceKey(config.dataDir);
    this.runner = new RentalRunner({
      dataDir: config.dataDir,
      serverUrl: config.serverUrl,
      storage: new RenterStorage({ config: config.storage, wipe: config.wipe, dataDir: config.dataDir, log: (m) => this.log('info', m) }),
      readyTimeoutMs: config.readyTimeoutMs,
      prepare: config.prepareContainer,
      now,
      dataKeepMs: effects.dataKeepMs,
      beforeStart: async (desired, how) => {
        // The rental's bandwidth, as rented; applied with the isolation before a start or resume.
        // A prepared container was made with the next offer's cap, and the watch has kept its
        // rules since (it watches prepared containers too), so its hand-over waits for neither.
        const cap = desired.offer?.bandwidthMbit ?? null;
        if (how === 'handOver' && this.isolation?.appliedFor(cap)) return;
        this.isolation?.setRentalCap(cap);
        await this.isolation?.apply();
      },
      // Deployment packages run inside the rental's container as root, by docker exec.
      apps: new AppInstaller({
        exec: async (rentalId, script, env) => {
          const c = await this.containers?.status(rentalId);
          if (!c?.running) throw new Error('the container is not running');
          return execInContainer(this.docker, c.id, script, env);
        },
        changed: () => this.requestSync('package progress'),
        log: (level, msg) => this.log(level, msg),
      }),
      beforePrepare: async (offer) => {
        this.isolation?.setRentalCap(offer?.bandwidthMbit ?? null);
        await this.isolation?.apply();
      },
      log,
    });
    this.api = serverApi({ baseUrl: config.serverUrl });
    this.docker = new Docker({ socketPath: config.dockerSocket });
  }

  get deviceId(): string | undefined {
    return this.runner.registration?.deviceId;
  }

  get tunnelUp(): boolean {
    return this.tunnel?.up ?? false;
  }

  async start(): Promise<void> {
    await this.docker.ping().catch((err: Error) => {
      throw new Error(`cannot reach the Docker engine at ${this.config.dockerSocket}: ${err.message}`);
    });
    // An engine without the chosen runtime stops the agent with what to do.
    this.runtime = await checkRuntime(this.docker, this.config.runtime);
    await this.register();
    if (this.closed) return;
    await this.goOnline();
  }

  /** Exchanges the enrolment token for an identity, retrying while the server is away. */
  private async register(): Promise<void> {
    const backoff = new Backoff(1000, 30_000);
    while (!this.runner.registration && !this.closed) {
      // Re-read the file each time: the owner may have put a fresh token in it.
      const token = (readConfigFile(this.config.configFile).enrolmentToken as string | undefined) ?? this.config.enrolmentToken;
      if (!token)
        throw new Error(`this device is not registered and has no enrolment token; run "p2pvps agent init --server URL --token-file FILE"`);
      try {
        const registration = await this.api.call('agentRegister', {
          body: {
            enrolmentToken: token,
            publicKey: this.key.publicKey,
            // The disk an owner can offer is the renter storage's capacity.
            hardware: probeHardware(this.config.dataDir, this.runner.diskCapacityBytes()),
            agentVersion: version,
          },
        });
        this.runner.registered(registration);
        this.log('info', `registered as device ${registration.deviceId} (public SSH port ${registration.sshPort})`);
      } catch (err) {
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
          this.log('error', `registration refused [${err.code}]: ${err.message}`);
        } else {
          this.log('warn', `registration failed: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, backoff.next()));
      }
    }
  }

  private async goOnline(): Promise<void> {
    const reg = this.runner.registration!;
    const sign = deviceSigner(reg.deviceId, this.key, deviceAuthAudience(this.config.serverUrl), this.signingClock);
    this.sign = sign;
    this.api = serverApi({ baseUrl: this.config.serverUrl, signDevice: sign });
    this.nodeApis.clear();
    const nodes = new ServerNodes(
      { apiUrl: this.config.serverUrl, gateway: { host: reg.gateway.host, port: reg.gateway.port } },
      { allowPlainHttp: this.config.insecureHttp, log: this.log, save: (list) => this.runner.rememberServerNodes(list) },
      this.runner.serverNodes,
    );
    this.nodes = nodes;
    this.containers = new RenterContainers({
      docker: this.docker,
      deviceId: reg.deviceId,
      image: this.config.image,
      network: this.config.containerNetwork,
      sshPort: this.config.containerSshPort,
      httpPort: this.config.containerHttpPort,
      httpsPort: this.config.containerHttpsPort,
      limits: { cpus: this.config.cpus, memoryMb: this.config.memoryMb, pidsLimit: this.config.pidsLimit },
      // Renters' /proc shows their rental's memory and cores where LXCFS runs.
      lxcfs: findLxcfs(this.log),
      runtime: this.runtime,
      log: (m) => this.log('info', m),
    });
    this.tunnel = new TunnelClient({
      registration: reg,
      privateKey: this.key.privateKey,
      localPort: this.config.containerSshPort,
      webPorts: new Map([
        [80, this.config.containerHttpPort],
        [443, this.config.containerHttpsPort],
      ]),
      log: this.log,
      // Down: the sync that follows fails and retries with backoff, which is what runs the
      // data-keeping check while the server is away.
      onStateChange: (up) => {
        this.requestSync(up ? 'tunnel up' : 'tunnel down');
        // The failover's count starts when the tunnel drops, not at its next look.
        if (!up) void this.failover?.tick();
      },
      containerStarting: () => this.runner.starting,
      renterSsh: () => this.renterSshPolicy(),
      nudges: (channel) => readNudges(channel, (event) => this.nudged(event)),
      benchmarkSource: this.benchmarkSource,
      // A backup peer's gateway while the home server is away; the home's (or its current node's) otherwise.
      gateway: () => this.failover?.target() ?? nodes.current().gateway,
      unreachable: (gateway) => nodes.gatewayUnreachable(gateway),
      ciphers: tunnelCiphersHere(this.config.tunnelCipher),
    });
    // The server's benchmark challenges, run only while the device holds no rental.
    this.benchmarks = new BenchmarkRunner({
      deviceId: reg.deviceId,
      sign: (data) => this.key.sign(data),
      cores: () => probeHardware(this.config.dataDir).cores,
      diskDir: () => this.runner.diskDir,
      busy: () => this.closed || this.runner.starting || this.runner.active,
      post: (body) => this.apiAt(nodes.current()).call('agentBenchmark', { body }),
      source: this.benchmarkSource,
      log: this.log,
    });
    await this.isolate();
    // Say once why renters get no root on an engine without user namespaces.
    const noRoot = await this.containers.rootWarning();
    if (noRoot) this.log('warn', noRoot);
    await this.runner.engage(this.containers);
    // What a rental's / is capped at, reported with the hardware; said once when it is not.
    this.systemDiskBytes = await this.containers.rootDiskCap().catch((err: Error) => {
      this.log('warn', `could not tell whether renters' / can be capped: ${err.message}`);
      return undefined;
    });
    if (this.systemDiskBytes === null) this.log('warn', uncappedRootWarning);
    this.failover?.close();
    const tunnel = this.tunnel;
    this.failover = new HomeFailover({
      unreachableMs: this.config.homeUnreachableS * 1000,
      returnAfterMs: this.config.homeReturnS * 1000,
      now: this.now,
      probeHome: () => probeServer(nodes.current().apiUrl),
      tunnelUp: () => tunnel.up,
      backups: () => this.runner.backups,
      switchTo: () => tunnel.reconnectNow(),
      log: this.log,
    });
    this.tunnel.start();
    this.failover.start();
    this.requestSync('start');
  }

  /**
   * Puts the renter network and its isolation in place (network/isolation.ts) before any
   * renter container starts; a device that cannot keep renters off the home network does
   * not run them.
   */
  private async isolate(): Promise<void> {
    if (this.config.containerNetwork === 'host') {
      this.log(
        'warn',
        'containerNetwork is "host": renter containers share the device\'s network and are NOT kept off the home network (for tests only)',
      );
      return;
    }
    try {
      const bridge = await this.containers!.ensureNetwork();
      this.isolation = new RenterIsolation({
        bridge,
        allow: this.config.allowNetworks,
        uploadMbit: this.config.uploadMbit,
        downloadMbit: this.config.downloadMbit,
        log: (m) => this.log('info', m),
      });
      await this.isolation.apply();
      void this.isolationWatch?.close();
      this.isolationWatch = new IsolationWatch({
        isolation: this.isolation,
        active: () => this.runner.hasContainer,
        stopRenter: () => this.containers!.stopAll(),
        restored: () => this.requestSync('renter isolation restored'),
        log: this.log,
      });
      this.isolationWatch.start();
    } catch (err) {
      throw new Error(
        `cannot keep renter containers off the home network (needs iptables, ip6tables, ip and tc, and root): ${sentence(err)}`,
      );
    }
  }

  /**
   * A renter's SSH connection waits while their rental is on its way: from the server's nudge
   * (which comes as `rent` answers, so a renter's first `ssh` often arrives before the
   * rental does) until the container is theirs; with a prepared container, its key exchange
   * meanwhile. With no rental it is refused.
   */
  private renterSshPolicy(): RenterSshPolicy {
    if (this.runner.starting || Date.now() - this.rentalRequestedAt < rentalRequestedWaitMs)
      return this.runner.handOverUnderway ? 'kex' : 'wait';
    return this.runner.active ? 'deliver' : 'refuse';
  }

  /**
   * A nudge from the server: sync now. A new rental it carries is started on at that sync
   * before the heartbeat, which would only have said the same (and then reports it ready).
   */
  private nudged(event: AgentEvent): void {
    if (event.rental && event.at) this.nudgedRental = { rental: event.rental, at: Date.parse(event.at) };
    this.requestSync(event.reason);
  }

  /** Runs one sync now, or once more right after the one in progress. */
  requestSync(reason: string): void {
    if (this.closed) return;
    if (reason === rentalRequested) this.rentalRequestedAt = Date.now();
    this.log('debug', `sync requested: ${reason}`);
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        await this.syncOnce();
      } while (this.syncAgain && !this.closed);
    })().finally(() => (this.syncing = undefined));
  }

  private async syncOnce(): Promise<void> {
    clearTimeout(this.heartbeatTimer);
    const began = Date.now();
    let next = this.heartbeatIntervalMs;
    try {
      // A rental the nudge brought, unless a heartbeat since has said otherwise: on an idle
      // device only, where it can only start what the server has just rented out.
      const nudged = this.nudgedRental;
      this.nudgedRental = undefined;
      if (nudged && nudged.at > this.lastReplyAt && !this.runner.active) await this.runner.reconcile(nudged.rental);
      // Converge: report, act on the reply, report again until nothing changes. A clock or
      // replay refusal is corrected and tried again at once (a clock correction may be
      // followed by a replay one).
      for (let round = 0, corrections = 0; round < 5 && !this.closed; round++) {
        let reply: HeartbeatReply | undefined;
        while (!reply) {
          try {
            reply = await this.heartbeat();
            // The rental the nudge announced is here: from now on the runner's own state says
            // whether a renter's connection waits (runner.starting) or goes through.
            if (reply.rental && this.rentalRequestedAt <= began) this.rentalRequestedAt = 0;
          } catch (err) {
            if (corrections++ >= 3 || !correctSigning(this.signingClock, classifyRefusal(err), this.log)) throw err;
          }
        }
        const changed = await this.runner.reconcile(reply.rental);
        // Never while a rental is wanted or held.
        if (reply.benchmark && !reply.rental && !this.runner.active) this.benchmarks?.start(reply.benchmark);
        if (!changed) break;
      }
      this.syncBackoff.reset();
      // That sync has the rental, if the nudge came before it began.
      if (this.rentalRequestedAt <= began) this.rentalRequestedAt = 0;
    } catch (err) {
      const refusal = classifyRefusal(err);
      if (refusal.kind === 'revoked' && (await this.revocationConfirmed())) return this.identityRevoked();
      if (refusal.kind === 'signature') this.log('error', signatureRefused(refusal, this.config.serverUrl));
      next = this.syncBackoff.next();
      this.log('warn', `sync failed (${(err as Error).message}); retrying in ${next} ms`);
      // The server is away: the rental and its data stay, up to the data-keeping limit.
      await this.runner.giveUpIfUnreachableTooLong().catch((e: Error) => this.log('error', `giving up the rental failed: ${e.message}`));
    }
    // A storage fault is retried sooner than the next heartbeat: a drive plugged back in, or
    // a busy mount let go, puts the device back on the market without the owner's help.
    if (this.runner.storageFault) next = Math.min(next, this.storageRetry.next());
    else this.storageRetry.reset();
    if (!this.closed)
      this.heartbeatTimer = setTimeout(() => this.requestSync(this.runner.storageFault ? 'storage retry' : 'heartbeat'), next);
  }

  /** The signed API client of a node. */
  private apiAt(node: NodeAddress): ServerApi {
    let api = this.nodeApis.get(node.apiUrl);
    if (!api) {
      // Every node checks signatures made for the server's public URL (config.serverUrl), whatever URL reached it.
      api = serverApi({ baseUrl: node.apiUrl, signDevice: this.sign });
      this.nodeApis.set(node.apiUrl, api);
    }
    return api;
  }

  private async heartbeat(): Promise<HeartbeatReply> {
    const node = this.nodes?.current();
    const reply = await (node ? this.apiAt(node) : this.api)
      .call('agentHeartbeat', {
        body: {
          container: this.runner.observed,
          // The disk an owner can offer is the renter storage's capacity (not what its current filesystem has free).
          hardware: probeHardware(this.config.dataDir, this.runner.diskCapacityBytes(), this.systemDiskBytes),
          storageFault: this.runner.storageFault,
          storageLock: this.runner.lock.report,
          // Tells the server this agent takes password hashes, never passwords.
          agentProtocol,
        },
      })
      .catch((err: unknown) => {
        // Nobody there, or a proxy saying so: the next try goes to the cluster's next node.
        if (node && err instanceof ApiError && [0, 502, 503, 504].includes(err.status)) this.nodes?.apiUnreachable(node.apiUrl);
        throw err;
      });
    this.nodes?.learn(reply.nodes);
    this.runner.rememberBackups(reply.backups ?? []);
    this.heartbeatIntervalMs = heartbeatIntervalWithin(reply.heartbeatIntervalMs);
    this.runner.nextOffer = reply.offer;
    this.lastReplyAt = Math.max(this.lastReplyAt, Date.parse(reply.serverTime));
    if (this.signingClock.learnServerTime(Date.parse(reply.serverTime)))
      this.log('info', `signing with the server's time: ${clockDifference(this.signingClock.offset)}`);
    this.runner.heardFromServer(reply.rental?.rentalId ?? null);
    return reply;
  }

  /** Asks the server again before a revocation is believed (server-trust.ts). */
  private revocationConfirmed(): Promise<boolean> {
    return confirmRevocation({
      serverUrl: this.nodes?.current().apiUrl ?? this.config.serverUrl,
      sign: this.sign,
      body: () => ({ container: this.runner.observed, storageFault: this.runner.storageFault, agentProtocol }),
      delayMs: this.revocationConfirmDelayMs,
      closed: () => this.closed,
      log: this.log,
    });
  }

  /** The server no longer knows this key (device removed or re-enrolled), confirmed: wipe, forget, enrol again. */
  private async identityRevoked(): Promise<void> {
    if (this.closed || !this.runner.registration) return;
    this.log(
      'error',
      'the server no longer accepts this device key (removed or re-enrolled); wiping and waiting for a new enrolment token',
    );
    this.stopConnections();
    await this.runner.forgetIdentity();
    this.api = serverApi({ baseUrl: this.config.serverUrl });
    await this.register().catch((err: Error) => this.log('error', err.message));
    if (!this.closed && this.runner.registration) await this.goOnline();
  }

  private stopConnections(): void {
    clearTimeout(this.heartbeatTimer);
    this.failover?.close();
    this.tunnel?.close();
  }

  /** Stops talking to the server; the renter's container keeps running. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopConnections();
    await this.isolationWatch?.close();
    await this.syncing?.catch(() => undefined);
  }
}
