import {
  OfferAnswer,
  federationRentalsPath,
  rentalEndPath,
  rentalGuaranteePath,
  type MovedMessage,
  type RentalOffer,
  type RentalStateMessage,
  type UsageAck,
  type UsageReport,
} from '@p2pvps/protocol/federation-rental-schemas';
import { SignedListing } from '@p2pvps/protocol/federation-schemas';
import { ApiErrorBody, errorCodes, type ErrorCode } from '@p2pvps/protocol/errors';
import type { EndReason, Rental, RentalState } from '@p2pvps/protocol/schemas';
import { findPeer, findPeerListing, listPeers, type PeerRow } from '../db/federation-repo.ts';
import {
  findRemoteRental,
  findRemoteRentalByRemoteId,
  insertRemoteRental,
  insertUsage,
  lastUsage,
  listOpenRemoteRentals,
  listRenterRemoteRentals,
  updateRemoteRental,
  type RemoteRentalRow,
} from '../db/federation-rentals-repo.ts';
import { inTransaction } from '../db/transactions.ts';
import type { DomainContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import type { RemoteRentalPort } from '../domain/federation/remote-rental-port.ts';
import { balanceOf, postMany } from '../domain/money/ledger.ts';
import { checkFunds } from '../domain/rentals/prepaid-terms.ts';
import { newId } from '../domain/secrets.ts';
import type { FederationClient, PeerReply } from './federation-client.ts';
import { objectHash, objectSignatureValid, signObject, type ObjectSigner } from './signed-objects.ts';
import { checkReportFollows, renterServerPosting } from './usage-reports.ts';

export interface RemoteRentalsOptions {
  ctx: DomainContext;
  client: FederationClient;
  signer(): ObjectSigner;
  /** Our fee on a peer's price, in basis points. */
  feeBps: number;
  /** How long a pay-as-you-go guarantee lasts; renewed when half of it is left. */
  guaranteeMs: number;
}

/**
 * The renter's server's side of a cross-server rental (docs/federation.md): it holds the
 * renter's money and offers the rental to the device's home server, which runs it; it takes
 * the home server's state changes in order and its signed usage reports (charging the
 * renter and owing the peer), acknowledges them signed, renews pay-as-you-go guarantees and
 * carries the renter's stop to the peer until the peer confirms it.
 */
export class RemoteRentals implements RemoteRentalPort {
  readonly feeBps: number;

  constructor(private readonly o: RemoteRentalsOptions) {
    this.feeBps = o.feeBps;
  }

  private get ctx(): DomainContext {
    return this.o.ctx;
  }

  async rent(renterId: string, input: Parameters<RemoteRentalPort['rent']>[1]): Promise<Rental | null> {
    const found = await findPeerListing(this.ctx.db, input.deviceId);
    if (!found) return null;
    const listing = SignedListing.parse(JSON.parse(found.listing_json));
    if (input.encryptionKey || input.package || input.autoRenew)
      throw new DomainError(
        'invalid_request',
        'A peer’s device is rented plain for now: no encrypted storage, package or auto-renewal through this server.',
      );
    const price = BigInt(listing.pricePerHourMicros);
    const withFee = price + (price * BigInt(this.feeBps)) / 10_000n;
    const now = this.ctx.clock.now();
    const id = newId();
    const guarantee = input.hours
      ? {
          maxMicros: String(price * BigInt(input.hours)),
          validUntil: new Date(now.getTime() + (input.hours + 1) * 3_600_000).toISOString(),
        }
      : { maxMicros: String(price), validUntil: new Date(now.getTime() + this.o.guaranteeMs).toISOString() };
    const offer: RentalOffer = {
      requestId: id,
      deviceId: listing.deviceId,
      listingSignedAt: listing.signedAt,
      pricePerHourMicros: listing.pricePerHourMicros,
      hours: input.hours ?? null,
      renter: { handle: `${renterId}@${new URL(this.ctx.settings.publicUrl).host}`, sshPublicKey: input.sshPublicKey ?? null },
      guarantee,
    };
    const row: RemoteRentalRow = {
      id,
      renter_id: renterId,
      peer_id: found.id,
      remote_rental_id: null,
      device_id: listing.deviceId,
      device_name: listing.name,
      state: 'offered',
      end_reason: null,
      detail: null,
      price_per_hour_micros: price,
      fee_bps: this.feeBps,
      hours: input.hours ?? null,
      username: '',
      password_sealed: '',
      ssh_public_key: input.sshPublicKey ?? null,
      ssh_host: '',
      ssh_port: 0,
      web_host: '',
      http_url: '',
      https_url: '',
      offer_json: JSON.stringify(offer),
      state_seq: 0,
      billed_minutes: 0,
      charged_micros: 0,
      guarantee_until: guarantee.validUntil,
      backups_json: listing.backups ? JSON.stringify(listing.backups) : null,
      moved_json: null,
      end_requested: null,
      created_at: now.toISOString(),
      activated_at: null,
      ended_at: null,
    };
    await inTransaction(this.ctx.db, async (trx) => {
      // The renter's balance pays the minutes the peer reports, our fee on top (the hold is the guarantee's worth).
      await checkFunds(trx, this.ctx, renterId, withFee * BigInt(input.hours ?? this.ctx.settings.rentMinimumHours), 'Renting this device');
      await insertRemoteRental(trx, row);
    });
    const reply = await this.send(found, 'POST', federationRentalsPath, offer);
    if (reply.status !== 200) {
      await updateRemoteRental(this.ctx.db, id, { state: 'failed', ended_at: now.toISOString() });
      throw peerRefusal(reply, found.url);
    }
    const answer = OfferAnswer.parse(reply.body);
    await updateRemoteRental(this.ctx.db, id, {
      state: 'requested',
      remote_rental_id: answer.rentalId,
      username: answer.ssh.username,
      // Sealed as a local rental's password is: shown again to the renter, never stored in clear.
      password_sealed: this.ctx.secretBox.seal(answer.ssh.password, id),
      ssh_host: answer.ssh.host,
      ssh_port: answer.ssh.port,
      web_host: answer.webHost,
      http_url: answer.httpUrl ?? `http://${answer.webHost}/`,
      https_url: answer.httpsUrl ?? `https://${answer.webHost}/`,
    });
    return this.present((await findRemoteRental(this.ctx.db, id))!, found);
  }

  async get(renterId: string, rentalId: string): Promise<Rental | undefined> {
    const row = await findRemoteRental(this.ctx.db, rentalId);
    if (!row || row.renter_id !== renterId || row.state === 'failed') return undefined;
    return this.present(row, await findPeer(this.ctx.db, row.peer_id));
  }

  async list(renterId: string, includeEnded: boolean): Promise<Rental[]> {
    const rows = await listRenterRemoteRentals(this.ctx.db, renterId, includeEnded);
    return Promise.all(rows.map(async (r) => this.present(r, await findPeer(this.ctx.db, r.peer_id))));
  }

  async stop(renterId: string, rentalId: string): Promise<Rental | undefined> {
    const row = await findRemoteRental(this.ctx.db, rentalId);
    if (!row || row.renter_id !== renterId || row.state === 'failed') return undefined;
    if (row.state === 'ended' || row.end_requested) throw new DomainError('rental_not_open');
    await this.requestEnd(row, 'renter_stopped');
    return this.get(renterId, rentalId);
  }

  /** Ends it here as far as the renter is concerned and tells the peer (again at each tick until it confirms). */
  private async requestEnd(row: RemoteRentalRow, reason: EndReason): Promise<void> {
    const at = this.ctx.clock.now().toISOString();
    await updateRemoteRental(this.ctx.db, row.id, { end_requested: at, end_reason: reason, state: 'ending' }, ['requested', 'active']);
    await this.deliverEnd({ ...row, end_requested: at, end_reason: reason });
  }

  private async deliverEnd(row: RemoteRentalRow): Promise<void> {
    const peer = await findPeer(this.ctx.db, row.peer_id);
    if (!peer || !row.remote_rental_id) return;
    const reply = await this.send(peer, 'POST', rentalEndPath(row.remote_rental_id), {
      reason: row.end_reason ?? 'renter_stopped',
      at: row.end_requested,
    });
    // Delivered (or the peer already ended it): stop sending.
    if (reply.status === 200 || reply.status === 409) await updateRemoteRental(this.ctx.db, row.id, { end_requested: null });
  }

  /** The home server's state change: taken in order (seq), a repeated one answered alike. */
  async receiveState(peer: PeerRow, remoteRentalId: string, msg: RentalStateMessage): Promise<{ acceptedSeq: number }> {
    const row = await findRemoteRentalByRemoteId(this.ctx.db, peer.id, remoteRentalId);
    if (!row) throw new DomainError('not_found');
    if (msg.seq <= row.state_seq) return { acceptedSeq: row.state_seq };
    if (msg.seq !== row.state_seq + 1)
      throw new DomainError(
        'federation_usage_out_of_order',
        `State ${msg.seq} does not follow ${row.state_seq}; send ${row.state_seq + 1} first.`,
      );
    const changes: Partial<RemoteRentalRow> = { state_seq: msg.seq, state: msg.state };
    if (msg.state === 'active' && !row.activated_at) changes.activated_at = msg.at;
    if (msg.state === 'ending' || msg.state === 'ended') changes.end_reason = row.end_reason ?? msg.endReason;
    if (msg.state === 'ended') changes.ended_at = msg.at;
    await updateRemoteRental(this.ctx.db, row.id, changes);
    return { acceptedSeq: msg.seq };
  }

  /**
   * Where the rental's device is served now (docs/federation.md, "The join"): from a backup
   * the home server's signed listing named when the rental was made, for a rental we hold
   * with that home. Shown instead of the home's addresses until the home reports minutes it
   * served itself again; a move from the home itself puts its own addresses back at once.
   */
  async receiveMoved(sender: PeerRow, remoteRentalId: string, msg: MovedMessage): Promise<{ accepted: true }> {
    const home = (await listPeers(this.ctx.db)).find((p) => p.url === msg.home && p.state === 'active');
    const row = home && (await findRemoteRentalByRemoteId(this.ctx.db, home.id, remoteRentalId));
    if (!home || !row || row.device_id !== msg.deviceId) throw new DomainError('not_found');
    if (sender.id !== home.id && !(JSON.parse(row.backups_json ?? '[]') as string[]).includes(sender.url))
      throw new DomainError(
        'federation_not_backup',
        `${msg.home}'s signed listing of device ${msg.deviceId} does not name ${sender.url} as its backup.`,
      );
    const { home: _h, deviceId: _d, ...where } = msg;
    await updateRemoteRental(this.ctx.db, row.id, {
      moved_json: sender.id === home.id ? null : JSON.stringify({ server: sender.url, ...where }),
    });
    return { accepted: true };
  }

  /**
   * A signed usage report: checked against the chain and the agreed price, posted once
   * (renter pays price and our fee, we owe the peer the price), stored with our signed ack.
   * A report already taken gets the same ack again.
   */
  async receiveUsage(peer: PeerRow, body: Record<string, unknown>, report: UsageReport): Promise<UsageAck> {
    const key = { id: peer.fingerprint, alg: 'ed25519' as const, publicKey: peer.public_key };
    if (report.issuer !== peer.url || !objectSignatureValid(body, { url: peer.url, key }))
      throw new DomainError('federation_bad_signature', `The usage report is not signed by ${peer.url}'s key ${peer.fingerprint}.`);
    if (report.counterparty !== new URL(this.ctx.settings.publicUrl).origin && report.counterparty !== this.signerUrl())
      throw new DomainError('invalid_request', `The usage report is addressed to ${report.counterparty}, not to this server.`);
    const row = await findRemoteRentalByRemoteId(this.ctx.db, peer.id, report.rentalId);
    if (!row) throw new DomainError('not_found');
    // Minutes a backup served while the peer was away, carried by the peer: only from a backup
    // its signed listing named when the rental was made (docs/federation.md, "The join").
    if (report.servedBy !== peer.url && !(JSON.parse(row.backups_json ?? '[]') as string[]).includes(report.servedBy))
      throw new DomainError(
        'federation_not_backup',
        `${peer.url}'s signed listing of device ${row.device_id} does not name ${report.servedBy} as its backup.`,
      );
    const hash = objectHash(body);
    return inTransaction(this.ctx.db, async (trx) => {
      const last = await lastUsage(trx, peer.id, report.rentalId);
      if (last && last.seq >= report.seq) {
        if (last.seq === report.seq && last.report_hash === hash && last.ack_json) return JSON.parse(last.ack_json) as UsageAck;
      }
      const previous = last
        ? (() => {
            const r = JSON.parse(last.report_json) as UsageReport;
            return { seq: r.seq, hash: last.report_hash, totalMinutes: r.totalMinutes, totalMicros: BigInt(r.totalMicros) };
          })()
        : null;
      checkReportFollows(previous, report, BigInt(row.price_per_hour_micros));
      const at = this.ctx.clock.now().toISOString();
      await postMany(trx, [
        renterServerPosting(
          { localRentalId: row.id, renterId: row.renter_id, peerId: peer.id, deviceName: row.device_name, feeBps: row.fee_bps },
          report,
          previous?.totalMicros ?? 0n,
          at,
        ),
      ]);
      const ack = signObject(
        { type: 'p2pvps-usage-ack' as const, rentalId: report.rentalId, seq: report.seq, reportHash: hash },
        this.o.signer(),
      );
      await insertUsage(trx, {
        peer_id: peer.id,
        rental_id: report.rentalId,
        seq: report.seq,
        report_json: JSON.stringify(body),
        report_hash: hash,
        amount_micros: BigInt(report.amountMicros),
        ack_json: JSON.stringify(ack),
        created_at: at,
      });
      const fee = (BigInt(report.totalMicros) * BigInt(row.fee_bps)) / 10_000n;
      // Minutes the home served itself after a move (it bills none while its device is away): the device is home again.
      const back =
        row.moved_json &&
        report.servedBy === peer.url &&
        report.minutes > 0 &&
        Date.parse(report.to) > Date.parse((JSON.parse(row.moved_json) as { at: string }).at);
      await updateRemoteRental(trx, row.id, {
        billed_minutes: report.totalMinutes,
        charged_micros: BigInt(report.totalMicros) + fee,
        ...(back ? { moved_json: null } : {}),
      });
      return ack;
    });
  }

  private signerUrl(): string {
    return this.o.signer().url;
  }

  /**
   * The periodic work: ends the peers have not confirmed are sent again; a pay-as-you-go
   * rental's guarantee is renewed while the renter's balance is above zero, and ended
   * (balance_exhausted) when it is not.
   */
  async tick(): Promise<void> {
    const now = this.ctx.clock.now().getTime();
    for (const row of await listOpenRemoteRentals(this.ctx.db)) {
      if (row.end_requested) {
        await this.deliverEnd(row);
        continue;
      }
      if (row.hours !== null || row.state === 'ending' || !row.guarantee_until) continue;
      if (new Date(row.guarantee_until).getTime() - now > this.o.guaranteeMs / 2) continue;
      const balance = await balanceOf(this.ctx.db, { kind: 'renter_balance', userId: row.renter_id });
      if (balance <= 0n) {
        await this.requestEnd(row, 'balance_exhausted');
        continue;
      }
      const peer = await findPeer(this.ctx.db, row.peer_id);
      if (!peer || !row.remote_rental_id) continue;
      const validUntil = new Date(now + this.o.guaranteeMs).toISOString();
      const reply = await this.send(peer, 'POST', rentalGuaranteePath(row.remote_rental_id), {
        maxMicros: String(row.price_per_hour_micros),
        validUntil,
      });
      if (reply.status === 200) await updateRemoteRental(this.ctx.db, row.id, { guarantee_until: validUntil });
    }
  }

  private send(peer: PeerRow, method: 'POST', path: string, body: unknown): Promise<PeerReply> {
    return this.o.client.request(peer.url, method, path, body).catch((err: Error) => ({
      status: 0,
      body: { code: 'federation_peer_unreachable', message: `${peer.url} did not answer: ${err.message}` },
    }));
  }

  private present(row: RemoteRentalRow, peer: PeerRow | undefined): Rental {
    const state: RentalState = row.state === 'offered' ? 'requested' : row.state === 'failed' ? 'ended' : (row.state as RentalState);
    const open = state !== 'ended';
    // Served by a backup of the home server for now (docs/federation.md, "The join"): its addresses.
    const moved = row.moved_json
      ? (JSON.parse(row.moved_json) as { ssh: { host: string; port: number }; webHost: string; httpUrl: string })
      : null;
    const at = moved ? { host: moved.ssh.host, port: moved.ssh.port, web: moved.webHost, http: moved.httpUrl, https: '' } : null;
    const sshHost = at?.host ?? row.ssh_host;
    const sshPort = at?.port ?? row.ssh_port;
    const web = open ? (at?.web ?? row.web_host) : '';
    const price = BigInt(row.price_per_hour_micros);
    return {
      id: row.id,
      deviceId: row.device_id,
      deviceName: row.device_name,
      state,
      endReason: row.end_reason as EndReason | null,
      detail: row.detail,
      createdAt: row.created_at,
      activatedAt: row.activated_at,
      expiresAt: null,
      endedAt: row.ended_at,
      // What the renter pays per hour: the peer's price and our fee.
      pricePerHourMicros: Number(price + (price * BigInt(row.fee_bps)) / 10_000n),
      costMicros: Number(row.charged_micros),
      currency: this.ctx.settings.currency,
      prepaidHours: row.hours,
      autoRenew: false,
      deviceHardware: null,
      deviceOnline: state === 'active',
      connection: {
        host: sshHost,
        port: sshPort,
        username: row.username,
        password: open && row.password_sealed ? this.ctx.secretBox.open(row.password_sealed, row.id) : '',
        sshKeyGiven: row.ssh_public_key !== null,
        sshCommand: sshPort ? `ssh -p ${sshPort} ${row.username}@${sshHost}` : '',
        webHost: web,
        httpUrl: web && (at?.http ?? row.http_url),
        httpsUrl: web && (at?.https ?? row.https_url),
      },
      ...(peer ? { homeServerUrl: peer.url } : {}),
    };
  }
}

/** The peer's refusal as ours, with its code when it is one of the catalogue's (they share it). */
function peerRefusal(reply: PeerReply, url: string): DomainError {
  const env = ApiErrorBody.safeParse(reply.body);
  if (env.success && env.data.code in errorCodes && reply.status >= 400 && reply.status < 500)
    return new DomainError(env.data.code as ErrorCode, `${url}: ${env.data.message}`);
  return new DomainError(
    'federation_peer_unreachable',
    `${url} could not make the rental: ${env.success ? env.data.message : `HTTP ${reply.status}`}`,
  );
}
