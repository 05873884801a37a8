import type { FederationIdentity, FederationOverview, ServerDocument } from '@p2pvps/protocol/federation-schemas';
import { wellKnownServerPath } from '@p2pvps/protocol/federation-schemas';
import type { Listing } from '@p2pvps/protocol/schemas';
import type { DomainContext } from '../domain/context.ts';
import { FederationClient } from './federation-client.ts';
import { ListingSync } from './listing-sync.ts';
import { Peers } from './peers.ts';
import type { RequestVerifierOptions } from './request-verifier.ts';
import { ServerIdentity } from './server-key.ts';

export interface FederationSettings {
  dataDir: string;
  publicUrl: string;
  federationPullMs: number;
  federationPushCheckMs: number;
}

/**
 * Federation's parts for one server: its signing identity, its peers, the signed client,
 * the verifier's settings for inbound requests, and the listing sync. Composed once by
 * services/server.ts; routes/federation.ts and routes/federation-admin.ts serve it.
 */
export class Federation {
  readonly identity: ServerIdentity;
  readonly client: FederationClient;
  readonly peers: Peers;
  readonly sync: ListingSync;
  readonly ownUrl: string;
  readonly verifier: RequestVerifierOptions;

  constructor(
    private readonly ctx: DomainContext,
    settings: FederationSettings,
    o: { ownListings(): Promise<Listing[]>; mayRun(): boolean; log: { warn(fields: object, message: string): void } },
  ) {
    this.ownUrl = new URL(settings.publicUrl).origin;
    this.identity = new ServerIdentity(settings.dataDir, ctx.clock);
    this.client = new FederationClient({ identity: this.identity, ownUrl: this.ownUrl, clock: ctx.clock });
    this.peers = new Peers({ db: ctx.db, clock: ctx.clock, client: this.client });
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
      ownListings: o.ownListings,
      pullEveryMs: settings.federationPullMs,
      checkEveryMs: settings.federationPushCheckMs,
      mayRun: o.mayRun,
      log: o.log,
    });
  }

  document(): ServerDocument {
    return this.identity.document(this.ctx.settings.serverName, this.ownUrl, this.ctx.settings.feeBps / 100);
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

  start(): void {
    this.sync.start();
  }

  close(): Promise<void> {
    return this.sync.close();
  }
}
