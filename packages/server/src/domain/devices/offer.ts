import type { Hardware, Offer } from '@p2pvps/protocol/schemas';
import { DomainError } from '../errors.ts';

/**
 * What one rental of a device gets. The owner chooses it within the device's hardware (as
 * its agent reports it); the market, `rent`, the rental and the agent's container all use
 * it, and the device's own totals are shown to its owner only.
 */

const MiB = 1024 * 1024;

/**
 * Memory the device keeps for itself (its OS, Docker, the agent): an eighth of it, at
 * least 256 MiB. A rental that could take the rest would leave the host swapping or its
 * agent killed by the kernel, and the renter would not get what was sold either.
 */
export function hostMemoryReserve(hardware: Hardware): number {
  return Math.max(256 * MiB, Math.ceil(hardware.memoryBytes / 8));
}

/** The most memory one rental can be offered on this hardware. */
export function maxOfferMemory(hardware: Hardware): number {
  return Math.max(0, hardware.memoryBytes - hostMemoryReserve(hardware));
}

/**
 * What a device whose owner never chose gets: one core and 512 MiB (the agent's own
 * default limits, which older servers leave it to), less where the device has less, the
 * whole renter storage, and no bandwidth cap.
 */
export function defaultOffer(hardware: Hardware): Offer {
  return {
    cores: 1,
    memoryBytes: Math.min(512 * MiB, maxOfferMemory(hardware)),
    diskBytes: hardware.diskBytes,
    bandwidthMbit: null,
  };
}

/**
 * The offer in force: the owner's, or the default. Should the device later report less
 * (a smaller storage drive plugged in), what is shown is cut to what it has, since that
 * is all the agent can give.
 */
export function effectiveOffer(hardware: Hardware, stored: string | null | undefined): Offer {
  const o = stored ? (JSON.parse(stored) as Offer) : defaultOffer(hardware);
  return {
    cores: Math.min(o.cores, hardware.cores),
    memoryBytes: Math.min(o.memoryBytes, Math.max(maxOfferMemory(hardware), 64 * MiB)),
    diskBytes: Math.min(o.diskBytes, hardware.diskBytes),
    bandwidthMbit: o.bandwidthMbit,
  };
}

/** The hardware a renter is shown: the offer's numbers, with the device's CPU model and architecture. */
export function offeredHardware(hardware: Hardware, offer: Offer): Hardware {
  return { ...hardware, cores: offer.cores, memoryBytes: offer.memoryBytes, diskBytes: offer.diskBytes };
}

function size(bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / (1024 * MiB)).toFixed(1)} GiB` : `${Math.floor(bytes / MiB)} MiB`;
}

/**
 * The owner's change applied to the offer in force, checked against the hardware: every
 * problem at once, in the fields the dashboard shows them beside.
 */
export function changedOffer(hardware: Hardware | null, stored: string | null | undefined, change: Partial<Offer>): Offer {
  if (!hardware)
    throw new DomainError(
      'invalid_request',
      'The device reports its hardware when its agent enrols; choose what a rental gets after that.',
      {
        'body.offer': 'the device has not enrolled yet',
      },
    );
  const offer = { ...effectiveOffer(hardware, stored), ...change };
  const fields: Record<string, string> = {};
  if (offer.cores > hardware.cores)
    fields['body.offer.cores'] =
      `must be at most ${hardware.cores}: the device has ${hardware.cores} core${hardware.cores === 1 ? '' : 's'}`;
  const maxMemory = maxOfferMemory(hardware);
  if (offer.memoryBytes > maxMemory)
    fields['body.offer.memoryBytes'] =
      `must be at most ${size(maxMemory)}: the device has ${size(hardware.memoryBytes)} and keeps ${size(hostMemoryReserve(hardware))} ` +
      '(an eighth, at least 256 MiB) for itself';
  if (offer.diskBytes > hardware.diskBytes)
    fields['body.offer.diskBytes'] = `must be at most ${size(hardware.diskBytes)}: that is the size of the device's renter storage`;
  if (Object.keys(fields).length)
    throw new DomainError('invalid_request', 'A rental cannot get more than the device has; see "fields" for the limits.', fields);
  return offer;
}
