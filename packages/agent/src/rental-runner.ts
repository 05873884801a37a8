import type { DesiredRental, NodeAddress, ObservedContainer, Registration } from '@p2pvps/protocol/agent-schemas';
import type { DeviceBackup } from '@p2pvps/protocol/federation-backup-schemas';
import type { Offer } from '@p2pvps/protocol/device-schemas';
import { timing } from '@p2pvps/protocol/timing';
import type { RenterContainers } from './docker/renter-containers.ts';
import { unreachableDetail, unreachableTooLong } from './offline.ts';
import { StateFile, type AgentState } from './state.ts';
import type { AppInstaller } from './app-installer.ts';
import type { RenterStorage } from './storage/renter-storage.ts';
import type { EncryptedHome } from './storage/encrypted-home.ts';
import { StorageLock } from './storage-lock.ts';

export type RunnerLog = (level: 'error' | 'warn' | 'info' | 'debug', msg: string) => void;

/** What the runner needs from the Docker engine (docker/renter-containers.ts); tests hand in a stand-in. */
export type RenterEngine = Pick<
  RenterContainers,
  | 'removeEarlierIdentities'
  | 'existingRentalId'
  | 'removeAllExcept'
  | 'status'
  | 'ensureRunning'
  | 'ensureImage'
  | 'start'
  | 'prepare'
  | 'preparedReady'
  | 'handOver'
  | 'stopAll'
>;

/** What the runner needs from the renter storage (storage/renter-storage.ts). */
export type RenterDisk = Pick<
  RenterStorage,
  'open' | 'wipe' | 'fitTo' | 'needsRefit' | 'capacityBytes' | 'homeDir' | 'mounted' | 'mountDir'
> & { readonly encryptedHome: Pick<EncryptedHome, 'create' | 'locked' | 'unlock'> };

export interface RentalRunnerOptions {
  dataDir: string;
  serverUrl: string;
  storage: RenterDisk;
  readyTimeoutMs: number;
  /** Keep a container prepared for the next renter while idle on clean storage (the prepareContainer option). */
  prepare?: boolean;
  /** The clock (ms since the epoch) for the offline rules. */
  now: () => number;
  /** How long an active rental is kept while the server is unreachable. */
  dataKeepMs?: number;
  /**
   * Runs before a container is started or resumed for a rental, or a prepared one handed over
   * (the renter network's isolation and the rental's bandwidth cap).
   */
  beforeStart?: (desired: DesiredRental, how: 'start' | 'handOver') => Promise<void>;
  /** Installs and starts rentals' deployment packages (app-installer.ts); absent, a package is never installed. */
  apps?: Pick<AppInstaller, 'progress' | 'forgetAllExcept'>;
  /** Runs before a container is prepared for the next renter, with the offer it is made for. */
  beforePrepare?: (offer: Offer | undefined) => Promise<void>;
  log: RunnerLog;
}

/** An error's message ending in one full stop. */
export function sentence(err: unknown): string {
  return `${(err as Error).message.replace(/[.\s]+$/, '')}.`;
}

/**
 * The rental side of the agent: the state file, the renter storage and the renter's
 * container. It makes the Docker engine run exactly the rental the server names, and holds
 * the guarantee the device is sold on: a renter's files are wiped before anyone else can
 * rent the device, also across crashes and restarts (the rental is forgotten in the state
 * file only once the wipe succeeded), and an active rental's data is kept while the server
 * is away, up to the data-keeping limit (offline.ts).
 */
export class RentalRunner {
  private readonly stateFile: StateFile;
  private state: AgentState;
  private engine: RenterEngine | undefined;
  private readonly dataKeepMs: number;
  /** What the runner reports to the server about the renter's container. */
  observed: ObservedContainer | null = null;
  /** Why the renter storage cannot be used, for the owner; reported in every heartbeat. */
  storageFault: string | null = null;
  /** An encrypted rental's storage, locked or not (storage-lock.ts). */
  readonly lock: StorageLock;
  /** True while a container is being started for a rental (the tunnel's reply to early visitors). */
  starting = false;
  /** The device's next offer (the server's, in the last heartbeat reply; older servers: none): the next rental's disk and limits. */
  nextOffer: Offer | undefined;
  /** The container prepared for the next renter, the clean storage (its UUID) it was made on, and the offer it was made for. */
  private prepared: { containerId: string; storageUuid: string; offerKey: string } | null = null;
  /** True from taking the prepared container for a rental until it is the renter's (or failed). */
  private handingOver = false;
  private preparing: Promise<void> | undefined;

  constructor(private readonly o: RentalRunnerOptions) {
    this.dataKeepMs = o.dataKeepMs ?? timing.dataKeepMs;
    this.stateFile = new StateFile(o.dataDir);
    this.lock = new StorageLock(o.storage.encryptedHome, o.log);
    this.state = this.stateFile.read(o.serverUrl);
    if (this.stateFile.recoveredFrom) o.log('warn', this.stateFile.recoveredFrom);
    // An agent from before the offline rules: count from now.
    if (this.state.rental && !this.state.lastServerContactAt)
      this.state = { ...this.state, lastServerContactAt: new Date(o.now()).toISOString() };
  }

  get registration(): Registration | null {
    return this.state.registration;
  }

  /**
   * Whether a prepared container is being handed to a renter (taken for their rental, its
   * sshd up): their key exchange may begin before the hand-over ends (tunnel-client.ts). Not
   * before it is taken: a rental it does not fit (another offer, encrypted storage) gets a
   * container started from nothing, and this one goes.
   */
  get handOverUnderway(): boolean {
    return this.handingOver;
  }

  /** Whether a container runs for a renter, or is prepared for the next one. */
  get hasContainer(): boolean {
    return this.active || this.prepared !== null || this.preparing !== undefined;
  }

  /** Whether a rental is on the device (its container may be stopped or gone; its data is not). */
  get active(): boolean {
    return this.state.rental !== null;
  }

  /** The renter storage's capacity: the most disk an owner can offer (null before it is known). */
  diskCapacityBytes(): number | null {
    return this.o.storage.capacityBytes();
  }

  /** Where the disk a renter gets is: the renter storage, once it is mounted. */
  get diskDir(): string {
    return this.o.storage.mounted() ? this.o.storage.mountDir : this.o.dataDir;
  }

  registered(registration: Registration): void {
    this.save({ registration });
  }

  /** The cluster's nodes as the server last sent them (server-nodes.ts); none for a single server. */
  get serverNodes(): NodeAddress[] {
    return this.state.nodes;
  }

  rememberServerNodes(nodes: NodeAddress[]): void {
    this.save({ nodes });
  }

  /** The backup peers as the server last named them (home-failover.ts). */
  get backups(): DeviceBackup[] {
    return this.state.backups;
  }

  /** Kept across restarts: a device that restarts while its server is away still knows where to go. */
  rememberBackups(backups: DeviceBackup[]): void {
    if (JSON.stringify(backups) !== JSON.stringify(this.state.backups)) this.save({ backups });
  }

  /** The server answered, naming `rentalId` (or none) as the rental it wants. */
  heardFromServer(rentalId: string | null): void {
    this.state = { ...this.state, lastServerContactAt: new Date(this.o.now()).toISOString() };
    if (this.state.lostRental && rentalId !== this.state.lostRental.rentalId) this.state = { ...this.state, lostRental: null };
    this.stateFile.write(this.state);
  }

  /**
   * Takes charge of this device's containers once it is registered: clears an earlier
   * identity's, gives up a rental kept past the data-keeping limit, and opens the storage.
   */
  async engage(engine: RenterEngine): Promise<void> {
    this.engine = engine;
    // A device removed and added again on this host leaves its old identity's container
    // holding our ports; nothing of an identity the server forgot is kept.
    const orphans = await engine.removeEarlierIdentities();
    if (orphans.length) this.o.log('info', `removed renter containers of an earlier identity of this device: ${orphans.join(', ')}`);
    // Until reconcile has looked, report a container found from before a restart as
    // still there: the server must not take "nothing running" for a finished wipe.
    const rentalId = await engine.existingRentalId();
    this.observed = rentalId ? { rentalId, state: 'starting' } : null;
    // A device that was off (or cut off) past the data-keeping limit wipes before anything else.
    await this.giveUpIfUnreachableTooLong();
    if (this.state.lostRental)
      this.observed = { rentalId: this.state.lostRental.rentalId, state: 'failed', detail: this.state.lostRental.detail };
    await this.openStorage();
  }

  /** Makes Docker match the desired rental. Returns true if what it reports has changed. */
  async reconcile(desired: DesiredRental | null): Promise<boolean> {
    const engine = this.engine!;
    const before = JSON.stringify([this.observed, this.storageFault, this.lock.report]);
    const current = this.state.rental;
    const ended = current !== null && current.rentalId !== desired?.rentalId;
    if (ended) {
      await this.removeContainers();
      this.o.log('info', `rental ${current.rentalId} ended: container destroyed`);
    }
    if (!desired) {
      // Stray containers of this device (say, from a crash mid-start) go too; a prepared
      // container only while it may still take a renter.
      await this.preparing;
      if (this.prepared && !this.mayHandOver(this.prepared)) this.prepared = null;
      const stray = await engine.removeAllExcept(null, this.prepared?.containerId);
      if (stray.length) this.o.log('info', `removed stray renter containers: ${stray.join(', ')}`);
      this.observed = null;
      this.lock.report = null;
      this.o.apps?.forgetAllExcept(undefined);
    }
    if (ended || !desired) {
      // Nothing may use the storage until it is wiped; the rental is forgotten only then,
      // so a failed wipe is retried, also after a restart.
      const clean = this.state.cleanStorageUuid !== null && !this.storageFault ? true : await this.wipeStorage(current !== null);
      if (clean && current) this.save({ rental: null });
    }
    if (!desired) {
      // Idle and clean: the storage is made the next rental's size and a container prepared
      // for the next renter now, so renting waits for neither.
      await this.fitIdleStorage();
      this.prepareNext();
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
    return JSON.stringify([this.observed, this.storageFault, this.lock.report]) !== before;
  }

  /**
   * Past the data-keeping limit without the server (timing.dataKeepMs), the active rental
   * is given up: its container destroyed and the storage wiped, so the device never holds a
   * renter's files indefinitely, and reported as failed until the server lets go of it.
   */
  async giveUpIfUnreachableTooLong(): Promise<void> {
    const rental = this.state.rental;
    if (!rental || !unreachableTooLong(this.state, this.o.now(), this.dataKeepMs)) return;
    const detail = unreachableDetail(this.dataKeepMs);
    this.o.log('warn', `rental ${rental.rentalId}: ${detail}`);
    await this.removeContainers();
    this.save({ lostRental: { rentalId: rental.rentalId, detail } });
    this.observed = { rentalId: rental.rentalId, state: 'failed', detail };
    // A failed wipe keeps the rental in the state file, so it is retried (and reported as a storage fault).
    if (await this.wipeStorage()) this.save({ rental: null });
  }

  /**
   * The server no longer knows this device (confirmed): its containers go, the storage is
   * wiped, and the identity and rental are forgotten, so the device enrols afresh.
   */
  async forgetIdentity(): Promise<void> {
    await this.removeContainers().catch(() => undefined);
    await this.wipeStorage();
    this.observed = null;
    this.save({ registration: null, rental: null });
  }

  /** Mounts the renter storage at start: as it is if a rental is on it or it is known clean, else wiped. */
  private async openStorage(): Promise<void> {
    try {
      const clean = await this.o.storage.open({ keep: this.state.rental !== null, cleanUuid: this.state.cleanStorageUuid });
      this.save({ cleanStorageUuid: clean });
      this.storageFault = null;
    } catch (err) {
      this.setStorageFault(`The renter storage could not be prepared: ${sentence(err)}`);
    }
  }

  /**
   * Makes the clean, idle storage the size of the device's next rental (a remake takes about
   * a second for a few GiB), which otherwise happens when the rental starts.
   */
  private async fitIdleStorage(): Promise<void> {
    const offer = this.nextOffer;
    if (offer === undefined || this.state.rental || this.state.cleanStorageUuid === null || this.storageFault) return;
    // A container prepared for another offer, or on storage about to be made anew, goes first: it holds the storage.
    await this.preparing;
    if (this.prepared && (this.prepared.offerKey !== offerKey(offer) || this.o.storage.needsRefit(offer.diskBytes)))
      await this.removeContainers();
    try {
      const uuid = await this.o.storage.fitTo(offer.diskBytes);
      if (uuid) this.save({ cleanStorageUuid: uuid });
    } catch (err) {
      this.setStorageFault(`The renter storage could not be made the size a rental gets: ${sentence(err)}`);
    }
  }

  /** Wipes the renter storage; true when it is clean. A failure keeps the device off the market. */
  private async wipeStorage(afterRental = true): Promise<boolean> {
    try {
      const uuid = await this.o.storage.wipe();
      this.save({ cleanStorageUuid: uuid });
      if (this.storageFault) this.o.log('info', 'renter storage recovered; the device can be listed again');
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
    if (full !== this.storageFault) this.o.log('error', full);
    this.storageFault = full.slice(0, 2000);
  }

  private async runRental(desired: DesiredRental): Promise<ObservedContainer> {
    const engine = this.engine!;
    const { rentalId } = desired;
    try {
      const existing = this.state.rental?.rentalId === rentalId ? await engine.status(rentalId) : null;
      if (existing) {
        // After a reboot the storage must be mounted before the container can start.
        if (this.storageFault) await this.openStorage();
        if (this.storageFault) throw new Error(this.storageFault);
        if (!(await this.lock.open(desired, () => this.engine!.stopAll()))) return this.lock.observation(rentalId);
        // A running container's rules and caps are the isolation watch's to keep.
        if (!existing.running) await this.o.beforeStart?.(desired, 'start');
        await engine.ensureRunning(rentalId, this.o.readyTimeoutMs);
      } else {
        const prepared = await this.takePrepared(desired);
        await engine.removeAllExcept(null, prepared ?? undefined);
        if (this.state.rental?.rentalId === rentalId) {
          // The same rental's container went missing: its files are on the storage still.
          if (this.storageFault) await this.openStorage();
          if (this.storageFault) throw new Error(this.storageFault);
          if (!(await this.lock.open(desired, () => this.engine!.stopAll()))) return this.lock.observation(rentalId);
        } else if (this.state.cleanStorageUuid === null || this.storageFault) {
          if (this.state.rental) throw new Error(this.storageFault ?? 'the renter storage still holds an earlier rental');
          if (!(await this.wipeStorage(false))) throw new Error(this.storageFault!);
        }
        if (!prepared) await engine.ensureImage();
        // From here on the storage holds this renter's data until it is wiped again.
        const fresh = this.state.rental?.rentalId !== rentalId;
        this.save({ cleanStorageUuid: null });
        // A new rental's /home is a filesystem of the rented disk's size (the clean one made anew
        // if it is another size); a rental whose container went missing keeps its files. A
        // prepared container is taken only when it fits the rental, so it never needs this.
        if (fresh && !prepared) await this.o.storage.fitTo(desired.offer?.diskBytes ?? null);
        if (fresh && desired.encryption) await this.lock.encrypt(desired);
        await this.o.beforeStart?.(desired, prepared ? 'handOver' : 'start');
        const containerId = prepared
          ? await engine.handOver(prepared, desired, this.o.readyTimeoutMs).finally(() => (this.handingOver = false))
          : await engine.start(desired, this.o.storage.homeDir, this.o.readyTimeoutMs);
        const how = prepared ? 'prepared container' : 'container';
        this.o.log('info', `rental ${rentalId}: ${how} ${containerId.slice(0, 12)} ready for ${desired.username}`);
        this.save({ rental: { rentalId, containerId, expiresAt: desired.expiresAt } });
      }
      if (this.state.rental && this.state.rental.expiresAt !== desired.expiresAt)
        this.save({ rental: { ...this.state.rental, expiresAt: desired.expiresAt } });
      return this.withApp(desired);
    } catch (err) {
      this.handingOver = false;
      const detail = (err as Error).message.slice(0, 2000);
      this.o.log('error', `rental ${rentalId}: could not start the container: ${detail}`);
      await this.removeContainers().catch(() => undefined);
      if (this.state.cleanStorageUuid === null) {
        // Wipe what the container may have written before the device is offered again.
        if (await this.wipeStorage()) this.save({ rental: null });
      } else this.save({ rental: null });
      return { rentalId, state: 'failed', detail };
    }
  }

  /**
   * A rental with a deployment package is `starting` until the package is healthy (the meter
   * starts then) and `failed`, with the end of its log, if it does not get there.
   */
  private withApp(desired: DesiredRental): ObservedContainer {
    const { rentalId } = desired;
    this.o.apps?.forgetAllExcept(rentalId);
    if (!desired.app || !this.o.apps) return { rentalId, state: 'ready' };
    const app = this.o.apps.progress(rentalId, desired.app);
    if (app.state === 'healthy') return { rentalId, state: 'ready', app };
    if (app.state === 'failed')
      return {
        rentalId,
        state: 'failed',
        app,
        detail: `The package ${desired.app.recipe.name} failed. Its log ends:\n${app.log.slice(-1900)}`,
      };
    return { rentalId, state: 'starting', app };
  }

  /**
   * While the device is idle on freshly wiped storage, prepares a container for the next
   * renter in the background. It has never run a renter's anything: it is made only after
   * the wipe, on the storage that wipe left, and serves one rental at most (takePrepared).
   */
  private prepareNext(): void {
    const engine = this.engine;
    const storageUuid = this.state.cleanStorageUuid;
    if (!this.o.prepare || !engine || this.preparing || this.prepared) return;
    if (this.state.rental || storageUuid === null || this.storageFault) return;
    this.preparing = (async () => {
      try {
        await engine.ensureImage();
        const offer = this.nextOffer;
        await this.o.beforePrepare?.(offer);
        const containerId = await engine.prepare(this.o.storage.homeDir, offer, this.o.readyTimeoutMs);
        this.prepared = { containerId, storageUuid, offerKey: offerKey(offer) };
        this.o.log('debug', `container ${containerId.slice(0, 12)} prepared for the next renter`);
      } catch (err) {
        this.o.log(
          'warn',
          `could not prepare a container for the next renter, so the next rental starts one from nothing: ${sentence(err)}`,
        );
      }
    })().finally(() => (this.preparing = undefined));
  }

  /** Whether the prepared container may still take a renter: nothing has used the storage since it was made. */
  private mayHandOver(p: { storageUuid: string }): boolean {
    return !this.state.rental && !this.storageFault && p.storageUuid === this.state.cleanStorageUuid;
  }

  /** The prepared container for a new rental, if there is one that may take it; it is never offered twice. */
  private async takePrepared(desired: DesiredRental): Promise<string | null> {
    await this.preparing;
    const p = this.prepared;
    this.prepared = null;
    // An encrypted home is made empty for its renter: the prepared container's home is not.
    if (!p || !this.mayHandOver(p) || desired.encryption) return null;
    // A package that needs /dev/net/tun needs a container made with it.
    if (desired.app?.recipe.needs.includes('tun')) return null;
    // Made for other limits or another disk than this rental gets: one is started from nothing.
    if (p.offerKey !== offerKey(desired.offer) || this.o.storage.needsRefit(desired.offer?.diskBytes ?? null)) return null;
    this.handingOver = true;
    if (await this.engine!.preparedReady(p.containerId)) return p.containerId;
    this.handingOver = false;
    return null;
  }

  /** Destroys every container of this device, a prepared one too once it is made, so none outlives a wipe. */
  private async removeContainers(): Promise<string[]> {
    await this.preparing;
    this.prepared = null;
    return this.engine!.removeAllExcept(null);
  }

  /** Changes the state and writes it durably before anything else happens. */
  private save(change: Partial<AgentState>): void {
    this.state = { ...this.state, ...change };
    this.stateFile.write(this.state);
  }
}

/** What a prepared container's limits were made from: the offer's cores and memory (none: the agent's own limits). */
function offerKey(offer: Offer | undefined): string {
  return JSON.stringify([offer?.cores ?? null, offer?.memoryBytes ?? null]);
}
