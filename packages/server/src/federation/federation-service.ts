import type { FederationIdentity, FederationOverview, ServerDocument } from '@p2pvps/protocol/federation-schemas';
import { wellKnownServerPath } from '@p2pvps/protocol/federation-schemas';
import type { DomainContext } from '../domain/context.ts';
import { allListings } from '../domain/rentals/rentals.ts';
import type { EventBus } from '../events/event-bus.ts';
import { FederationBackups } from './backups.ts';
import { defaultBackupFeeBps } from './backup-serving.ts';
import { FederationClient } from './federation-client.ts';
import { ListingSync } from './listing-sync.ts';
import { OriginRentals } from './origin-rentals.ts';
import { Peers } from './peers.ts';
import { RemoteRentals } from './remote-rentals.ts';
import { RentalReports } from './rental-reports.ts';
import { Statements } from './statements.ts';
import type { RequestVerifierOptions } from './request-verifier.ts';
import { ServerIdentity } from './server-key.ts';
import { SharedServerKey } from './shared-key.ts';

export interface FederationParts {
  /** True on the node leading the periodic work, the one that pushes and pulls listings. */
  mayRun(): boolean;
  /** The node events' `changes` bus: a key rotated on one node reaches every node (shared-key.ts). */
  bus: EventBus<string>;
  log: { warn(fields: object, message: string): void };
  /** Our tunnel gateway as devices reach it: what a backup agreement gives the peers we back up. */
  gateway?: () => { host: string; port: number; hostKey: string };
}

/**
 * Federation for services/server.ts: composed, and its key shared with the other nodes of
 * the cluster (adopted from the database) before anything is served; `start()` then starts
 * the listing sync.
 */
export async function startFederation(ctx: DomainContext, settings: FederationSettings, o: FederationParts): Promise<Federation> {
  const federation = new Federation(ctx, settings, o);
  await federation.sharedKey.start();
  return federation;
}

export interface FederationSettings {
  dataDir: string;
  publicUrl: string;
  federationPullMs: number;
  federationPushCheckMs: number;
  /** Cross-server rentals (federation-options.ts). */
  federationFeePercent: string;
  federationRentalTickMs: number;
  federationReportMinutes: number;
  federationGuaranteeMinutes: number;
  federationStatementHours: number;
  federationGraceDays: number;
  /** Our public SSH ports; backed-up peers' devices get theirs from the top down. */
  sshPortRange?: readonly [number, number];
  /** What we charge the peers we back up, in basis points of the minutes served (federation-options.ts). */
  federationBackupFeeBps?: number;
}

/**
 * Federation's parts for one server: its signing identity, its peers, the signed client,
 * the verifier's settings for inbound requests, and the listing sync. Composed once by
 * `startFederation`; routes/federation.ts and routes/federation-admin.ts serve it.
 */
export class Federation {
  readonly identity: ServerIdentity;
  readonly sharedKey: SharedServerKey;
  readonly client: FederationClient;
  readonly peers: Peers;
  readonly sync: ListingSync;
  /** Backup peers and failover, both sides (backups.ts). */
  readonly backups: FederationBackups;
  readonly ownUrl: string;
  readonly verifier: RequestVerifierOptions;
  /** Cross-server rentals: ours of peers' devices, peers' of ours, and what we report of those. */
  readonly remote: RemoteRentals;
  readonly origin: OriginRentals;
  readonly reports: RentalReports;
  readonly statements: Statements;
  private rentalTimer: NodeJS.Timeout | undefined;
  private rentalWork: Promise<unknown> | null = null;

  constructor(
    private readonly ctx: DomainContext,
    private readonly settings: FederationSettings,
    private readonly o: FederationParts,
  ) {
    this.ownUrl = new URL(settings.publicUrl).origin;
    this.identity = new ServerIdentity(settings.dataDir, ctx.clock);
    this.sharedKey = new SharedServerKey({
      db: ctx.db,
      clock: ctx.clock,
      secretBox: ctx.secretBox,
      identity: this.identity,
      bus: o.bus,
      log: o.log,
    });
    this.client = new FederationClient({ identity: this.identity, ownUrl: this.ownUrl, clock: ctx.clock });
    this.peers = new Peers({ db: ctx.db, clock: ctx.clock, client: this.client, currency: ctx.settings.currency });
    this.verifier = {
      db: ctx.db,
      clock: ctx.clock,
      ownUrl: this.ownUrl,
      followRotation: (peer, keyid) => this.peers.followRotation(peer, keyid),
    };
    this.sync = new ListingSync({
      db: ctx.db,
      clock: ctx.clock,
      identity: this.identity,
      client: this.client,
      peers: this.peers,
      ownUrl: this.ownUrl,
      // Our listings name the peers that agreed to back our devices up (they may speak for our running rentals).
      ownListings: async () => {
        const [listings, backups] = await Promise.all([allListings(ctx), this.backups.home.backupUrls()]);
        return backups.length ? listings.map((l) => Object.assign(l, { backups })) : listings;
      },
      pullEveryMs: settings.federationPullMs,
      checkEveryMs: settings.federationPushCheckMs,
      mayRun: o.mayRun,
      log: o.log,
    });
    this.backups = new FederationBackups({
      ctx,
      identity: this.identity,
      client: this.client,
      ownUrl: this.ownUrl,
      portRange: settings.sshPortRange ?? [20000, 20999],
      gateway: o.gateway ?? (() => ({ host: '127.0.0.1', port: 22, hostKey: '' })),
      everyMs: settings.federationPushCheckMs,
      feeBps: settings.federationBackupFeeBps ?? defaultBackupFeeBps,
      mayRun: o.mayRun,
      log: o.log,
    });
    const signer = () => ({ url: this.ownUrl, keyId: this.identity.key.id, sign: (d: Buffer) => this.identity.sign(d) });
    this.remote = new RemoteRentals({
      ctx,
      client: this.client,
      signer,
      feeBps: Math.round(Number(settings.federationFeePercent) * 100),
      guaranteeMs: settings.federationGuaranteeMinutes * 60_000,
    });
    this.origin = new OriginRentals(ctx);
    this.reports = new RentalReports({ ctx, client: this.client, signer, reportEveryMinutes: settings.federationReportMinutes });
    this.statements = new Statements({
      ctx,
      client: this.client,
      signer,
      everyMs: settings.federationStatementHours * 3_600_000,
      graceMs: settings.federationGraceDays * 86_400_000,
    });
    // The domain's rentals reach peers' devices through this port (domain/federation/remote-rental-port.ts).
    ctx.remoteRentals = this.remote;
  }

  /** One round of cross-server rental work, on the leading node only, never two at once. */
  rentalTick(): Promise<unknown> {
    if (!this.o.mayRun()) return Promise.resolve();
    this.rentalWork ??= Promise.all([this.reports.tick().then(() => this.statements.tick()), this.remote.tick()])
      .catch((err) => this.o.log.warn({ err }, 'federation rental work failed'))
      .finally(() => (this.rentalWork = null));
    return this.rentalWork;
  }

  document(): ServerDocument {
    return this.identity.document(
      this.ctx.settings.serverName,
      this.ownUrl,
      this.ctx.settings.feeBps / 100,
      this.ctx.settings.currency,
      Number(this.settings.federationFeePercent),
    );
  }

  identityView(): FederationIdentity {
    return {
      name: this.ctx.settings.serverName,
      url: this.ownUrl,
      fingerprint: this.identity.key.id,
      publicKey: this.identity.key.publicKey,
      previousKeys: this.identity.previousKeys,
      wellKnownUrl: `${this.ownUrl}${wellKnownServerPath}`,
    };
  }

  async overview(): Promise<FederationOverview> {
    return { identity: this.identityView(), peers: await this.peers.list() };
  }

  /** A new key, signed by the old one, for every node of the cluster. */
  async rotateKey(): Promise<FederationIdentity> {
    await this.sharedKey.rotate();
    return this.identityView();
  }

  start(): void {
    this.sync.start();
    this.rentalTimer = setInterval(() => void this.rentalTick(), this.settings.federationRentalTickMs);
    this.rentalTimer.unref();
    this.backups.start();
  }

  async close(): Promise<void> {
    this.sharedKey.close();
    clearInterval(this.rentalTimer);
    await this.rentalWork;
    await this.backups.close();
    await this.sync.close();
  }
}
