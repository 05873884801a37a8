import type { EndMessage, Guarantee, OfferAnswer, RentalOffer } from '@p2pvps/protocol/federation-rental-schemas';
import type { z } from 'zod';
import { isUniqueViolation } from '../db/database.ts';
import { findDevice } from '../db/devices-repo.ts';
import type { PeerRow } from '../db/federation-repo.ts';
import { ensurePeerUser, findOriginRental } from '../db/federation-rentals-repo.ts';
import { findRental, insertRental, updateRental, type RentalRow } from '../db/rentals-repo.ts';
import { inTransaction } from '../db/transactions.ts';
import type { DomainContext } from '../domain/context.ts';
import { webHost } from '../domain/devices/devices.ts';
import { rotateWebName } from '../domain/devices/web-names.ts';
import { DomainError } from '../domain/errors.ts';
import { balanceOf } from '../domain/money/ledger.ts';
import { desired } from '../domain/rentals/desired-rental.ts';
import { endRental } from '../domain/rentals/ending.ts';
import { recordRentalEvent } from '../domain/rentals/rental-log.ts';
import { revealPassword } from '../domain/rentals/rental-passwords.ts';
import { newRentalRow } from '../domain/rentals/new-rental-row.ts';
import { newId } from '../domain/secrets.ts';

/**
 * The device's server's side of a cross-server rental (docs/federation.md): a peer's offer
 * becomes an ordinary rental whose renter is the peer's account, made once per request ID;
 * it runs while a guarantee covers it, and either side may end it. Usage and state go back
 * to the peer from rental-reports.ts.
 */
export class OriginRentals {
  constructor(private readonly ctx: DomainContext) {}

  async acceptOffer(peer: PeerRow, offer: RentalOffer): Promise<OfferAnswer> {
    const existing = await findOriginRental(this.ctx.db, peer.id, offer.requestId);
    if (existing) return this.answer(existing);
    if (peer.over_limit_at) throw new DomainError('federation_credit_exceeded');
    if (peer.credit_limit_micros !== null && peer.credit_limit_micros !== undefined) {
      // Our peer_account is minus what the peer owes us.
      const owed = -(await balanceOf(this.ctx.db, { kind: 'peer_account', peerId: peer.id }));
      if (owed > BigInt(peer.credit_limit_micros)) throw new DomainError('federation_credit_exceeded');
    }
    const now = this.ctx.clock.now();
    if (Date.parse(offer.guarantee.validUntil) <= now.getTime())
      throw new DomainError('invalid_request', 'The guarantee has already run out.', { 'body.guarantee.validUntil': 'in the past' });
    // Only our own devices, listed now: a peer cannot rent through us a device homed elsewhere.
    const device = await findDevice(this.ctx.db, offer.deviceId);
    const listed =
      device &&
      device.public_key !== null &&
      device.on_market === 1 &&
      device.price_per_hour_micros !== null &&
      device.storage_fault === null &&
      !device.hardware_flag &&
      device.hardware !== null &&
      this.ctx.tunnels.isOnline(device.id);
    if (!device || !listed)
      throw new DomainError('federation_device_unavailable', `Device ${offer.deviceId} is not a device of this server listed now.`);
    const price = BigInt(device.price_per_hour_micros as number | bigint);
    if (price !== BigInt(offer.pricePerHourMicros))
      throw new DomainError(
        'federation_terms_changed',
        `The offer names ${offer.pricePerHourMicros} per hour; device ${device.id} costs ${price} now.`,
      );
    const row: RentalRow = {
      ...newRentalRow(this.ctx, device, {
        renterId: await ensurePeerUser(this.ctx.db, peer.id, newId(), now.toISOString()),
        hours: offer.hours,
        autoRenew: false,
        sshPublicKey: offer.renter.sshPublicKey,
      }),
      origin_peer_id: peer.id,
      origin_request_id: offer.requestId,
      guarantee_until: offer.guarantee.validUntil,
      origin_state_seq: 0,
      origin_state_sent: null,
    };
    try {
      await inTransaction(this.ctx.db, async (trx) => {
        await insertRental(trx, row);
        await recordRentalEvent(trx, row.id, 'requested', row.created_at, `for ${offer.renter.handle} through ${peer.url}`);
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // The same offer twice at once: the first made it. Otherwise the device was rented meanwhile.
      const raced = await findOriginRental(this.ctx.db, peer.id, offer.requestId);
      if (raced) return this.answer(raced);
      throw new DomainError('federation_device_unavailable', `Device ${offer.deviceId} was rented meanwhile.`);
    }
    const webName = await rotateWebName(this.ctx, device.id);
    this.ctx.notifyDevice(device.id, 'rental_requested', desired(this.ctx, row, webHost(this.ctx, webName)));
    return this.answer(row);
  }

  private async answer(row: RentalRow): Promise<OfferAnswer> {
    const device = await findDevice(this.ctx.db, row.device_id);
    const web = device && row.state !== 'ended' ? webHost(this.ctx, device.web_name) : '';
    const port = (p: number, standard: number) => (p === standard ? '' : `:${p}`);
    return {
      httpUrl: web && `http://${web}${port(this.ctx.settings.httpPort, 80)}/`,
      httpsUrl: web && `https://${web}${port(this.ctx.settings.httpsPort, 443)}/`,
      rentalId: row.id,
      state: row.state as OfferAnswer['state'],
      ssh: {
        host: this.ctx.settings.sshHost,
        port: Number(device?.ssh_port ?? 0),
        username: row.username,
        password: revealPassword(this.ctx, row),
      },
      webHost: web,
    };
  }

  private async peerRental(peer: PeerRow, rentalId: string): Promise<RentalRow> {
    const row = await findRental(this.ctx.db, rentalId);
    // Another peer's rental, or a local one, is not this peer's to see.
    if (!row || row.origin_peer_id !== peer.id) throw new DomainError('not_found');
    return row;
  }

  /** The renter's server ends it: the renter stopped it, or their money ran out. */
  async endFromPeer(peer: PeerRow, rentalId: string, msg: z.infer<typeof EndMessage>): Promise<{ state: string }> {
    const row = await this.peerRental(peer, rentalId);
    if (row.state === 'ending' || row.state === 'ended') return { state: row.state };
    await endRental(this.ctx, row, msg.reason === 'balance_exhausted' ? 'balance_exhausted' : 'renter_stopped');
    return { state: 'ending' };
  }

  /** A renewed guarantee: the rental runs on until its validUntil. */
  async guarantee(peer: PeerRow, rentalId: string, g: Guarantee): Promise<{ accepted: true }> {
    const row = await this.peerRental(peer, rentalId);
    if (row.state !== 'requested' && row.state !== 'active') throw new DomainError('rental_not_open');
    if (!row.guarantee_until || g.validUntil > row.guarantee_until)
      await updateRental(this.ctx.db, row.id, { guarantee_until: g.validUntil });
    return { accepted: true };
  }
}
