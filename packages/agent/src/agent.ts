import type { DesiredRental, HeartbeatReply, ObservedContainer } from '@p2pvps/protocol/agent-schemas';
import { ApiClient, ApiError } from '@p2pvps/protocol/client';
import { deviceAuthAudience } from '@p2pvps/protocol/device-auth';
import { timing } from '@p2pvps/protocol/timing';
import { version } from '@p2pvps/protocol/version';
import Docker from 'dockerode';
import { Backoff } from './backoff.ts';
import { readConfigFile, type AgentConfig } from './config.ts';
import { RenterContainers } from './docker/renter-containers.ts';
import { EventStream } from './event-stream.ts';
import { probeHardware } from './hardware.ts';
import { RenterIsolation } from './network/isolation.ts';
import { IsolationWatch } from './network/isolation-watch.ts';
import { unreachableDetail, unreachableTooLong } from './offline.ts';
import { deviceSigner, loadOrCreateDeviceKey, SigningClock, type DeviceKey } from './identity.ts';
import { classifyRefusal } from './server-refusals.ts';
import { clockDifference, confirmRevocation, correctSigning, heartbeatIntervalWithin, signatureRefused } from './server-trust.ts';
import { StateFile, type AgentState } from './state.ts';
import { RenterStorage } from './storage/renter-storage.ts';
import { TunnelClient } from './tunnel-client.ts';

/** An error's message ending in one full stop. */
function sentence(err: unknown): string {
  return `${(err as Error).message.replace(/[.\s]+$/, '')}.`;
}

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
 * The governor on the device. It converges on what the server wants: register once,
 * keep the tunnel and the event stream up, and on every heartbeat or nudge make the
 * Docker engine run exactly the rental the server names (or nothing, wiped).
 */
export class Agent {
  private readonly key: DeviceKey;
  private readonly stateFile: StateFile;
  private state: AgentState;
  private api: ApiClient;
  private tunnel: TunnelClient | undefined;
  private events: EventStream | undefined;
  private containers: RenterContainers | undefined;
  /** The firewall rules and bandwidth caps of the renter network; none with host networking (tests). */
  private isolation: RenterIsolation | undefined;
  /** Puts the isolation back while a rental runs, should another tool flush the firewall. */
  private isolationWatch: IsolationWatch | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatIntervalMs = timing.heartbeatIntervalMs;
  private observed: ObservedContainer | null = null;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  private closed = false;
  private starting = false;
  private readonly docker: Docker;
  private readonly syncBackoff = new Backoff(1000, 60_000);
  private readonly storage: RenterStorage;
  /** Why the renter storage cannot be used, for the owner; reported in every heartbeat. */
  private storageFault: string | null = null;
  private readonly storageRetry = new Backoff(2000, 60_000);
  private readonly now: () => number;
  private readonly dataKeepMs: number;
  /** The signatures' clock: this device's, corrected by the server's time. */
  private readonly signingClock: SigningClock;
  private sign: ((method: string, path: string, body: string) => string) | undefined;
  private readonly revocationConfirmDelayMs: number;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: AgentLog,
    effects: AgentSideEffects = {},
  ) {
    this.now = effects.now ?? Date.now;
    this.dataKeepMs = effects.dataKeepMs ?? timing.dataKeepMs;
    this.signingClock = new SigningClock(this.now);
    this.revocationConfirmDelayMs = effects.revocationConfirmDelayMs ?? 15_000;
    this.key = loadOrCreateDeviceKey(config.dataDir);
    this.stateFile = new StateFile(config.dataDir);
    this.state = this.stateFile.read(config.serverUrl);
    if (this.stateFile.recoveredFrom) this.log('warn', this.stateFile.recoveredFrom);
    // An agent from before the offline rules: count from now.
    if (this.state.rental && !this.state.lastServerContactAt)
      this.state = { ...this.state, lastServerContactAt: new Date(this.now()).toISOString() };
    this.api = new ApiClient({ baseUrl: config.serverUrl });
    this.docker = new Docker({ socketPath: config.dockerSocket });
    this.storage = new RenterStorage({
      config: config.storage,
      wipe: config.wipe,
      dataDir: config.dataDir,
      log: (m) => this.log('info', m),
    });
  }

  get deviceId(): string | undefined {
    return this.state.registration?.deviceId;
  }

  get tunnelUp(): boolean {
    return this.tunnel?.up ?? false;
  }

  async start(): Promise<void> {
    await this.docker.ping().catch((err: Error) => {
      throw new Error(`cannot reach the Docker engine at ${this.config.dockerSocket}: ${err.message}`);
    });
    await this.register();
    if (this.closed) return;
    await this.goOnline();
  }

  /** Exchanges the enrolment token for an identity, retrying while the server is away. */
  private async register(): Promise<void> {
    const backoff = new Backoff(1000, 30_000);
    while (!this.state.registration && !this.closed) {
      // Re-read the file each time: the owner may have put a fresh token in it.
      const token = (readConfigFile(this.config.configFile).enrolmentToken as string | undefined) ?? this.config.enrolmentToken;
      if (!token)
        throw new Error(`this device is not registered and has no enrolment token; run "p2pvps agent init --server URL --token-file FILE"`);
      try {
        const registration = await this.api.call('agentRegister', {
          body: {
            enrolmentToken: token,
            publicKey: this.key.publicKey,
            hardware: probeHardware(this.config.dataDir),
            agentVersion: version,
          },
        });
        this.state = { ...this.state, registration };
        this.stateFile.write(this.state);
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
    const reg = this.state.registration!;
    const sign = deviceSigner(reg.deviceId, this.key, deviceAuthAudience(this.config.serverUrl), this.signingClock);
    this.sign = sign;
    this.api = new ApiClient({ baseUrl: this.config.serverUrl, signDevice: sign });
    this.containers = new RenterContainers({
      docker: this.docker,
      deviceId: reg.deviceId,
      image: this.config.image,
      network: this.config.containerNetwork,
      sshPort: this.config.containerSshPort,
      httpPort: this.config.containerHttpPort,
      httpsPort: this.config.containerHttpsPort,
      limits: { cpus: this.config.cpus, memoryMb: this.config.memoryMb, pidsLimit: this.config.pidsLimit },
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
      onStateChange: (up) => this.requestSync(up ? 'tunnel up' : 'tunnel down'),
      containerStarting: () => this.starting,
    });
    this.events = new EventStream({
      serverUrl: this.config.serverUrl,
      sign,
      onEvent: (e) => this.requestSync(e.reason),
      // A revocation is only ever acted on through a sync, which confirms it first; any
      // other refusal (a proxy's 401, say) just means trying the stream again later.
      onRefused: (err) => {
        const refusal = classifyRefusal(err);
        if (refusal.kind === 'revoked') this.requestSync('the event stream says this device key is revoked');
        else correctSigning(this.signingClock, refusal, this.log);
      },
      log: this.log,
    });
    await this.isolate();
    // [issue 11, root safely] Say once why renters get no root on an engine without user namespaces.
    const noRoot = await this.containers.rootWarning();
    if (noRoot) this.log('warn', noRoot);
    // A device removed and added again on this host leaves its old identity's container
    // holding our ports; nothing of an identity the server forgot is kept.
    const orphans = await this.containers.removeEarlierIdentities();
    if (orphans.length) this.log('info', `removed renter containers of an earlier identity of this device: ${orphans.join(', ')}`);
    // Until reconcile has looked, report a container found from before a restart as
    // still there: the server must not take "nothing running" for a finished wipe.
    const rentalId = await this.containers.existingRentalId();
    this.observed = rentalId ? { rentalId, state: 'starting' } : null;
    // A device that was off (or cut off) past the data-keeping limit wipes before anything else.
    await this.giveUpIfUnreachableTooLong();
    if (this.state.lostRental)
      this.observed = { rentalId: this.state.lostRental.rentalId, state: 'failed', detail: this.state.lostRental.detail };
    await this.openStorage();
    this.tunnel.start();
    this.events.start();
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
        active: () => this.state.rental !== null,
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

  /** Runs one sync now, or once more right after the one in progress. */
  requestSync(reason: string): void {
    if (this.closed) return;
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
    let next = this.heartbeatIntervalMs;
    try {
      // Converge: report, act on the reply, report again until nothing changes. A clock or
      // replay refusal is corrected and tried again at once (a clock correction may be
      // followed by a replay one).
      for (let round = 0, corrections = 0; round < 5 && !this.closed; round++) {
        let reply: HeartbeatReply | undefined;
        while (!reply) {
          try {
            reply = await this.heartbeat();
          } catch (err) {
            if (corrections++ >= 3 || !correctSigning(this.signingClock, classifyRefusal(err), this.log)) throw err;
          }
        }
        if (!(await this.reconcile(reply.rental))) break;
      }
      this.syncBackoff.reset();
    } catch (err) {
      const refusal = classifyRefusal(err);
      if (refusal.kind === 'revoked' && (await this.revocationConfirmed())) return this.identityRevoked();
      if (refusal.kind === 'signature') this.log('error', signatureRefused(refusal, this.config.serverUrl));
      next = this.syncBackoff.next();
      this.log('warn', `sync failed (${(err as Error).message}); retrying in ${next} ms`);
      // The server is away: the rental and its data stay, up to the data-keeping limit.
      await this.giveUpIfUnreachableTooLong().catch((e: Error) => this.log('error', `giving up the rental failed: ${e.message}`));
    }
    // A storage fault is retried sooner than the next heartbeat: a drive plugged back in, or
    // a busy mount let go, puts the device back on the market without the owner's help.
    if (this.storageFault) next = Math.min(next, this.storageRetry.next());
    else this.storageRetry.reset();
    if (!this.closed) this.heartbeatTimer = setTimeout(() => this.requestSync(this.storageFault ? 'storage retry' : 'heartbeat'), next);
  }

  private async heartbeat(): Promise<HeartbeatReply> {
    const reply = await this.api.call('agentHeartbeat', {
      body: {
        container: this.observed,
        // The disk a renter gets is the renter storage, once it is mounted.
        hardware: probeHardware(this.storage.mounted() ? this.storage.mountDir : this.config.dataDir),
        storageFault: this.storageFault,
      },
    });
    this.heartbeatIntervalMs = heartbeatIntervalWithin(reply.heartbeatIntervalMs);
    if (this.signingClock.learnServerTime(Date.parse(reply.serverTime)))
      this.log('info', `signing with the server's time: ${clockDifference(this.signingClock.offset)}`);
    this.state = { ...this.state, lastServerContactAt: new Date(this.now()).toISOString() };
    if (this.state.lostRental && reply.rental?.rentalId !== this.state.lostRental.rentalId)
      this.state = { ...this.state, lostRental: null };
    this.stateFile.write(this.state);
    return reply;
  }

  /** Makes Docker match the desired rental. Returns true if what it reports has changed. */
  private async reconcile(desired: DesiredRental | null): Promise<boolean> {
    const containers = this.containers!;
    const before = JSON.stringify([this.observed, this.storageFault]);
    const current = this.state.rental;
    const ended = current !== null && current.rentalId !== desired?.rentalId;
    if (ended) {
      await containers.removeAllExcept(null);
      this.log('info', `rental ${current.rentalId} ended: container destroyed`);
    }
    if (!desired) {
      // Stray containers of this device (say, from a crash mid-start) go too.
      const stray = await containers.removeAllExcept(null);
      if (stray.length) this.log('info', `removed stray renter containers: ${stray.join(', ')}`);
      this.observed = null;
    }
    if (ended || !desired) {
      // Nothing may use the storage until it is wiped; the rental is forgotten only then,
      // so a failed wipe is retried, also after a restart.
      const clean = this.state.cleanStorageUuid !== null && !this.storageFault ? true : await this.wipeStorage(current !== null);
      if (clean && current) this.saveRental(null);
    }
    // A failed start is reported once; the server then ends the rental.
    if (desired && !(this.observed?.rentalId === desired.rentalId && this.observed.state === 'failed')) {
      this.starting = this.observed?.rentalId !== desired.rentalId || this.observed.state !== 'ready';
      try {
        this.observed = await this.runRental(desired);
      } finally {
        this.starting = false;
      }
    }
    return JSON.stringify([this.observed, this.storageFault]) !== before;
  }

  /**
   * Past the data-keeping limit without the server (timing.dataKeepMs), the active rental
   * is given up: its container destroyed and the storage wiped, so the device never holds a
   * renter's files indefinitely, and reported as failed until the server lets go of it.
   */
  private async giveUpIfUnreachableTooLong(): Promise<void> {
    const rental = this.state.rental;
    if (!rental || !unreachableTooLong(this.state, this.now(), this.dataKeepMs)) return;
    const detail = unreachableDetail(this.dataKeepMs);
    this.log('warn', `rental ${rental.rentalId}: ${detail}`);
    await this.containers!.removeAllExcept(null);
    this.state = { ...this.state, lostRental: { rentalId: rental.rentalId, detail } };
    this.stateFile.write(this.state);
    this.observed = { rentalId: rental.rentalId, state: 'failed', detail };
    // A failed wipe keeps the rental in the state file, so it is retried (and reported as a storage fault).
    if (await this.wipeStorage()) this.saveRental(null);
  }

  /** Mounts the renter storage at start: as it is if a rental is on it or it is known clean, else wiped. */
  private async openStorage(): Promise<void> {
    try {
      const clean = await this.storage.open({ keep: this.state.rental !== null, cleanUuid: this.state.cleanStorageUuid });
      this.state = { ...this.state, cleanStorageUuid: clean };
      this.stateFile.write(this.state);
      this.storageFault = null;
    } catch (err) {
      this.setStorageFault(`The renter storage could not be prepared: ${sentence(err)}`);
    }
  }

  /** Wipes the renter storage; true when it is clean. A failure keeps the device off the market. */
  private async wipeStorage(afterRental = true): Promise<boolean> {
    try {
      const uuid = await this.storage.wipe();
      this.state = { ...this.state, cleanStorageUuid: uuid };
      this.stateFile.write(this.state);
      if (this.storageFault) this.log('info', 'renter storage recovered; the device can be listed again');
      this.storageFault = null;
      return true;
    } catch (err) {
      const what = afterRental ? 'wiped after the last rental' : 'prepared';
      this.setStorageFault(`The renter storage could not be ${what}: ${sentence(err)}`);
      return false;
    }
  }

  private setStorageFault(message: string): void {
    const full = `${message} The device stays off the market until the storage works; the agent keeps retrying.`;
    if (full !== this.storageFault) this.log('error', full);
    this.storageFault = full.slice(0, 2000);
  }

  private async runRental(desired: DesiredRental): Promise<ObservedContainer> {
    const containers = this.containers!;
    const { rentalId } = desired;
    try {
      // Again before every start or resume: a restarted Docker engine makes the bridge anew, without its caps.
      await this.isolation?.apply();
      if (this.state.rental?.rentalId === rentalId && (await containers.status(rentalId))) {
        // After a reboot the storage must be mounted before the container can start.
        if (this.storageFault) await this.openStorage();
        if (this.storageFault) throw new Error(this.storageFault);
        await containers.ensureRunning(rentalId, this.config.readyTimeoutMs);
      } else {
        await containers.removeAllExcept(null);
        if (this.state.rental?.rentalId === rentalId) {
          // The same rental's container went missing: its files are on the storage still.
          if (this.storageFault) await this.openStorage();
          if (this.storageFault) throw new Error(this.storageFault);
        } else if (this.state.cleanStorageUuid === null || this.storageFault) {
          if (this.state.rental) throw new Error(this.storageFault ?? 'the renter storage still holds an earlier rental');
          if (!(await this.wipeStorage(false))) throw new Error(this.storageFault!);
        }
        await containers.ensureImage();
        // From here on the storage holds this renter's data until it is wiped again.
        this.state = { ...this.state, cleanStorageUuid: null };
        this.stateFile.write(this.state);
        const containerId = await containers.start(desired, this.storage.homeDir, this.config.readyTimeoutMs);
        this.log('info', `rental ${rentalId}: container ${containerId.slice(0, 12)} ready for ${desired.username}`);
        this.saveRental({ rentalId, containerId, expiresAt: desired.expiresAt });
      }
      if (this.state.rental && this.state.rental.expiresAt !== desired.expiresAt)
        this.saveRental({ ...this.state.rental, expiresAt: desired.expiresAt });
      return { rentalId, state: 'ready' };
    } catch (err) {
      const detail = (err as Error).message.slice(0, 2000);
      this.log('error', `rental ${rentalId}: could not start the container: ${detail}`);
      await containers.removeAllExcept(null).catch(() => undefined);
      if (this.state.cleanStorageUuid === null) {
        // Wipe what the container may have written before the device is offered again.
        if (await this.wipeStorage()) this.saveRental(null);
      } else this.saveRental(null);
      return { rentalId, state: 'failed', detail };
    }
  }

  private saveRental(rental: AgentState['rental']): void {
    this.state = { ...this.state, rental };
    this.stateFile.write(this.state);
  }

  /** Asks the server again before a revocation is believed (server-trust.ts). */
  private revocationConfirmed(): Promise<boolean> {
    return confirmRevocation({
      serverUrl: this.config.serverUrl,
      sign: this.sign,
      body: () => ({ container: this.observed, storageFault: this.storageFault }),
      delayMs: this.revocationConfirmDelayMs,
      closed: () => this.closed,
      log: this.log,
    });
  }

  /** The server no longer knows this key (device removed or re-enrolled), confirmed: wipe, forget, enrol again. */
  private async identityRevoked(): Promise<void> {
    if (this.closed || !this.state.registration) return;
    this.log(
      'error',
      'the server no longer accepts this device key (removed or re-enrolled); wiping and waiting for a new enrolment token',
    );
    this.stopConnections();
    await this.containers?.removeAllExcept(null).catch(() => undefined);
    await this.wipeStorage();
    this.observed = null;
    this.state = { ...this.state, registration: null, rental: null };
    this.stateFile.write(this.state);
    this.api = new ApiClient({ baseUrl: this.config.serverUrl });
    await this.register().catch((err: Error) => this.log('error', err.message));
    if (!this.closed && this.state.registration) await this.goOnline();
  }

  private stopConnections(): void {
    clearTimeout(this.heartbeatTimer);
    this.tunnel?.close();
    this.events?.close();
  }

  /** Stops talking to the server; the renter's container keeps running. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopConnections();
    await this.isolationWatch?.close();
    await this.syncing?.catch(() => undefined);
  }
}
