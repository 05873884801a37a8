import { ApiError, type ApiClient } from '@p2pvps/protocol/client';
import { Id, pageLimits, type Rental } from '@p2pvps/protocol/schemas';
import { CliError } from '../cli-error.ts';
import { printable } from '../format.ts';
import { collectPages } from '../pages.ts';

/** The renter's open (requested or active) rentals, every page of them. */
export function listOpenRentals(client: ApiClient): Promise<Rental[]> {
  return collectPages(
    async (page) => {
      const r = await client.call('listRentals', { query: page });
      return { items: r.rentals, next: r.next };
    },
    { pageSize: pageLimits.rentals },
  );
}

function choices(rentals: readonly Rental[]): string {
  return rentals.map((r) => `${r.id} on ${printable(r.deviceName)}`).join(', ');
}

/**
 * The one open rental on the device named (or with the ID) `device`. A renter can hold
 * two rentals on one device only in turn, but two devices can share a name: then, as when
 * nothing matches, the error lists the open rentals to choose from.
 */
export function pickOpenRental(rentals: readonly Rental[], device: string): Rental {
  const matches = rentals.filter((r) => r.deviceId === device || r.deviceName === device);
  if (matches.length === 1 && matches[0]) return matches[0];
  if (matches.length > 1) {
    throw new CliError(
      'ambiguous_rental',
      `You have more than one open rental on a device called "${printable(device)}"; give a rental ID: ${choices(matches)}.`,
    );
  }
  throw new CliError(
    'not_found',
    rentals.length === 0
      ? `"${printable(device)}" is neither a rental ID nor a device you have an open rental on; you have no open rentals.`
      : `"${printable(device)}" is neither a rental ID nor a device you have an open rental on; yours: ${choices(rentals)}.`,
  );
}

/**
 * A rental ID, or the name or ID of a device the renter has an open rental on. An ID is
 * tried as a rental first, so ended rentals still say they have ended.
 */
export async function resolveRental(client: ApiClient, rentalOrDevice: string): Promise<Rental> {
  if (Id.safeParse(rentalOrDevice).success) {
    try {
      return await client.call('getRental', { params: { rentalId: rentalOrDevice } });
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'not_found')) throw err;
      const open = await listOpenRentals(client);
      if (!open.some((r) => r.deviceId === rentalOrDevice || r.deviceName === rentalOrDevice)) throw err;
      return pickOpenRental(open, rentalOrDevice);
    }
  }
  return pickOpenRental(await listOpenRentals(client), rentalOrDevice);
}
