import type { FederationPeer, ServerKey } from '@p2pvps/protocol/federation-schemas';
import type { Db } from '../db/database.ts';
import { countPeerListings, deletePeer, findPeer, insertPeer, listPeers, updatePeer, type PeerRow } from '../db/federation-repo.ts';
import type { Clock } from '../domain/clock.ts';
import { DomainError } from '../domain/errors.ts';
import { newId } from '../domain/secrets.ts';
import { balanceOf } from '../domain/money/ledger.ts';
import type { FederationClient } from './federation-client.ts';
import { fingerprintOf, followRotations } from './server-key.ts';

/** How often a peer's document is fetched to follow a key rotation, at most: anyone can send a request naming a peer. */
const rotationCheckMs = 30_000;

/** The operator's peers: linked by URL and pinned fingerprint, suspended, resumed, unlinked. */
export class Peers {
  private readonly lastRotationCheck = new Map<string, number>();

  constructor(private readonly o: { db: Db; clock: Clock; client: FederationClient; currency?: string }) {}

  /**
   * Links a peer: fetches its published document and pins its key, but only if the key has
   * the fingerprint the operator got from the peer's operator (out of band), so a server
   * in the middle cannot put its own key in.
   */
  async link(url: string, fingerprint: string): Promise<FederationPeer> {
    const doc = await this.o.client.serverDocument(url);
    if (this.o.currency && doc.currency !== this.o.currency) {
      throw new DomainError(
        'federation_currency_mismatch',
        `${url} prices in ${doc.currency}, this server in ${this.o.currency}; servers link only within one currency.`,
      );
    }
    if (doc.url !== url) {
      throw new DomainError('federation_peer_unreachable', `${url} says its URL is ${doc.url}; link it by that URL.`);
    }
    const computed = fingerprintOf(Buffer.from(doc.key.publicKey, 'base64url'));
    if (doc.key.id !== fingerprint || computed !== fingerprint) {
      throw new DomainError(
        'federation_fingerprint_mismatch',
        `${url} publishes the key ${computed}, not ${fingerprint}; check the fingerprint with its operator before linking.`,
      );
    }
    const now = this.o.clock.now().toISOString();
    const row: PeerRow = {
      id: newId(),
      url,
      name: doc.name,
      fingerprint,
      public_key: doc.key.publicKey,
      state: 'active',
      fee_bps: Math.round(doc.feePercent * 100),
      linked_at: now,
      updated_at: now,
      last_sync_at: null,
      last_error: null,
    };
    if (!(await insertPeer(this.o.db, row))) throw new DomainError('federation_peer_exists');
    return presentPeer(row, 0);
  }

  async list(): Promise<FederationPeer[]> {
    const [rows, counts] = await Promise.all([listPeers(this.o.db), countPeerListings(this.o.db)]);
    return Promise.all(
      rows.map(async (r) => ({
        ...presentPeer(r, counts.get(r.id) ?? 0),
        accountMicros: Number(await balanceOf(this.o.db, { kind: 'peer_account', peerId: r.id })),
      })),
    );
  }

  async get(id: string): Promise<FederationPeer> {
    const peer = (await this.list()).find((p) => p.id === id);
    if (!peer) throw new DomainError('not_found');
    return peer;
  }

  async setState(id: string, state: PeerRow['state']): Promise<FederationPeer> {
    if (!(await findPeer(this.o.db, id))) throw new DomainError('not_found');
    await updatePeer(this.o.db, id, { state, updated_at: this.o.clock.now().toISOString() });
    return (await this.list()).find((p) => p.id === id)!;
  }

  async unlink(id: string): Promise<void> {
    if (!(await deletePeer(this.o.db, id))) throw new DomainError('not_found');
  }

  /** The peer signs with `keyid`, not its pinned key: pin it if the peer's published rotations lead there from the pinned one. */
  async followRotation(peer: PeerRow, keyid: string): Promise<ServerKey | null> {
    const now = this.o.clock.now().getTime();
    if (now - (this.lastRotationCheck.get(peer.id) ?? -Infinity) < rotationCheckMs) return null;
    this.lastRotationCheck.set(peer.id, now);
    const doc = await this.o.client.serverDocument(peer.url).catch(() => null);
    if (!doc || doc.key.id !== keyid) return null;
    const next = followRotations({ id: peer.fingerprint, alg: 'ed25519', publicKey: peer.public_key }, doc);
    if (!next) return null;
    await updatePeer(this.o.db, peer.id, { fingerprint: next.id, public_key: next.publicKey, updated_at: new Date(now).toISOString() });
    return next;
  }
}

function presentPeer(r: PeerRow, listings: number): FederationPeer {
  return {
    id: r.id,
    url: r.url,
    name: r.name,
    fingerprint: r.fingerprint,
    state: r.state,
    feePercent: r.fee_bps === null ? null : r.fee_bps / 100,
    linkedAt: r.linked_at,
    updatedAt: r.updated_at,
    lastSyncAt: r.last_sync_at,
    lastError: r.last_error,
    listings,
    creditLimitMicros: r.credit_limit_micros === null || r.credit_limit_micros === undefined ? null : Number(r.credit_limit_micros),
    overLimitSince: r.over_limit_at ?? null,
  };
}
