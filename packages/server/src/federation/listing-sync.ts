import { canonicalJson } from '@p2pvps/protocol/canonical-json';
import { federationListingsPath, ListingSnapshot, type SignedListing } from '@p2pvps/protocol/federation-schemas';
import type { Listing } from '@p2pvps/protocol/schemas';
import type { Db } from '../db/database.ts';
import { forgetExpiredNonces, listPeers, replacePeerListings, updatePeer, type PeerRow } from '../db/federation-repo.ts';
import type { Clock } from '../domain/clock.ts';
import { DomainError } from '../domain/errors.ts';
import { describeReply, type FederationClient } from './federation-client.ts';
import { checkPeerListings, signListing } from './listing-signatures.ts';
import type { Peers } from './peers.ts';
import type { ServerIdentity } from './server-key.ts';

export interface ListingSyncOptions {
  db: Db;
  clock: Clock;
  identity: ServerIdentity;
  client: FederationClient;
  peers: Peers;
  ownUrl: string;
  /** This server's own listings now (the market without peers'). */
  ownListings(): Promise<Listing[]>;
  /** Every peer's listings are pulled this often (they also push theirs on change); 0: never. */
  pullEveryMs: number;
  /** Own listings are compared this often, and pushed to every active peer when they changed. */
  checkEveryMs: number;
  /** Only the node leading the periodic work pushes and pulls (cluster/leader-lease.ts). */
  mayRun(): boolean;
  log: { warn(fields: object, message: string): void };
}

/** What makes a listing different for peers: not its uptime and scores, which move every minute and travel with the pulls. */
function changeKey(listings: Listing[]): string {
  return canonicalJson(
    listings
      .map(({ uptimePercent: _u, reliabilityPercent: _r, rating: _g, ...rest }) => rest)
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1)),
  );
}

/**
 * The shared market's sync: this server's listings go to every active peer when they
 * change (checked every checkEveryMs, a natural debounce) and peers' come in by their
 * pushes and by our periodic pulls. Every message is a whole snapshot, so a lost or
 * repeated one does no harm; the next replaces it.
 */
export class ListingSync {
  private pullTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private lastPushed: string | undefined;
  private lastPrune = -Infinity;
  private running: Promise<unknown> | null = null;
  private closed = false;

  constructor(private readonly o: ListingSyncOptions) {}

  start(): void {
    if (this.o.pullEveryMs > 0) this.pullTimer = setInterval(() => this.once(() => this.pullAll()), this.o.pullEveryMs);
    this.checkTimer = setInterval(() => this.once(() => this.pushIfChanged()), this.o.checkEveryMs);
    this.pullTimer?.unref();
    this.checkTimer.unref();
  }

  /** Our signed listings, as a push or a pull reply carries them. */
  async snapshot(): Promise<SignedListing[]> {
    return this.signed(await this.o.ownListings());
  }

  private signed(own: Listing[]): SignedListing[] {
    const now = this.o.clock.now().toISOString();
    const home = { url: this.o.ownUrl, keyId: this.o.identity.key.id, sign: (d: Buffer) => this.o.identity.sign(d) };
    return own.map((l) => signListing(l, home, now));
  }

  /** A peer's snapshot, pushed or pulled: checked listing by listing, then stored in place of the last. */
  async receive(peer: PeerRow, body: unknown): Promise<number> {
    const parsed = ListingSnapshot.safeParse(body);
    if (!parsed.success) throw new DomainError('invalid_request', 'The body must be {"listings": [...]} with at most 2000 listings.');
    const key = { id: peer.fingerprint, alg: 'ed25519' as const, publicKey: peer.public_key };
    const checked = checkPeerListings({ url: peer.url, key }, parsed.data.listings);
    await replacePeerListings(this.o.db, peer.id, checked, this.o.clock.now().toISOString());
    return checked.length;
  }

  /** A peer was linked or resumed: send it ours and take its listings now rather than at the next tick. */
  peerAdded(): void {
    this.lastPushed = undefined;
    this.once(() => this.pullAll());
  }

  private once(job: () => Promise<unknown>): void {
    if (this.closed || !this.o.mayRun()) return;
    this.running ??= job()
      .catch((err) => this.o.log.warn({ err }, 'federation sync failed'))
      .finally(() => (this.running = null));
  }

  private async activePeers(): Promise<PeerRow[]> {
    return (await listPeers(this.o.db)).filter((p) => p.state === 'active');
  }

  async pushIfChanged(): Promise<void> {
    const now = this.o.clock.now().getTime();
    // Nonces past the clock window can no longer be replayed: forget them, once a minute.
    if (now - this.lastPrune >= 60_000) {
      this.lastPrune = now;
      await forgetExpiredNonces(this.o.db, new Date(now).toISOString());
    }
    // No peer, no market query: a server that federates with nobody pays nothing every check.
    const peers = await this.activePeers();
    if (peers.length === 0) return;
    const own = await this.o.ownListings();
    const key = changeKey(own);
    if (key === this.lastPushed) return;
    const listings = this.signed(own);
    let allDelivered = true;
    for (const peer of peers) {
      const reply = await this.o.client.request(peer.url, 'POST', federationListingsPath, { listings }).catch((err: Error) => ({
        status: 0,
        body: { code: 'federation_peer_unreachable', message: err.message },
      }));
      if (reply.status !== 200) {
        allDelivered = false;
        await this.noteError(peer, `push: ${describeReply(reply)}`);
      }
    }
    // Undelivered: try again at the next check rather than wait for the peer's pull.
    if (allDelivered) this.lastPushed = key;
  }

  async pullAll(): Promise<void> {
    for (const peer of await this.activePeers()) {
      try {
        const reply = await this.o.client.request(peer.url, 'GET', federationListingsPath);
        if (reply.status !== 200) throw new Error(`pull: ${describeReply(reply)}`);
        const first = (reply.body as { listings?: { homeKeyId?: unknown }[] })?.listings?.[0]?.homeKeyId;
        // Signed with a key we did not pin: the peer may have rotated it.
        const current = typeof first === 'string' && first !== peer.fingerprint ? await this.followRotated(peer, first) : peer;
        await this.receive(current, reply.body);
      } catch (err) {
        await this.noteError(peer, (err as Error).message);
      }
    }
  }

  private async followRotated(peer: PeerRow, keyid: string): Promise<PeerRow> {
    const next = await this.o.peers.followRotation(peer, keyid);
    return next ? { ...peer, fingerprint: next.id, public_key: next.publicKey } : peer;
  }

  private async noteError(peer: PeerRow, message: string): Promise<void> {
    this.o.log.warn({ peer: peer.url }, `federation: ${message}`);
    await updatePeer(this.o.db, peer.id, { last_error: message.slice(0, 500) });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pullTimer);
    clearInterval(this.checkTimer);
    await this.running;
  }
}
