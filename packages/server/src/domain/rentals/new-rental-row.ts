import type { Hardware } from '@p2pvps/protocol/schemas';
import type { DeviceRow } from '../../db/devices-repo.ts';
import type { RentalRow } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { effectiveOffer } from '../devices/offer.ts';
import { newId, newUsername } from '../secrets.ts';
import { newRentalPassword } from './rental-passwords.ts';

/** Who rents and for how long: the only parts of a new rental its caller decides. */
export interface NewRental {
  renterId: string;
  hours: number | null;
  autoRenew: boolean;
  sshPublicKey: string | null;
}

/**
 * A requested rental of `device` at its price now, with a fresh account and password, for
 * a local renter (rentals.ts) or a peer's account (federation/origin-rentals.ts) alike.
 * The rental keeps what it was rented with, whatever the owner offers later.
 */
export function newRentalRow(ctx: DomainContext, device: DeviceRow, r: NewRental): RentalRow {
  const id = newId();
  return {
    id,
    device_id: device.id,
    device_name: device.name,
    renter_id: r.renterId,
    state: 'requested',
    end_reason: null,
    detail: null,
    username: newUsername(),
    ...newRentalPassword(ctx, id),
    auto_renew: r.autoRenew ? 1 : 0,
    term_hours: r.hours,
    ssh_public_key: r.sshPublicKey,
    hours: r.hours,
    open_device_id: device.id,
    created_at: ctx.clock.now().toISOString(),
    activated_at: null,
    expires_at: null,
    ended_at: null,
    bytes_in: 0,
    bytes_out: 0,
    billed_minutes: 0,
    charged_micros: 0,
    fee_micros: 0,
    billed_until: null,
    price_per_hour_micros: BigInt(device.price_per_hour_micros as number | bigint),
    fee_bps: ctx.settings.feeBps,
    balance_exhausted_at: null,
    offline_since: null,
    balance_low_at: null,
    offer: JSON.stringify(effectiveOffer(JSON.parse(device.hardware!) as Hardware, device.offer)),
  };
}
