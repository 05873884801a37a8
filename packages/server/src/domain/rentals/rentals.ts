import type { RentPackage } from '@p2pvps/protocol/app-packages';
import type { EndReason, Hardware, Listing, MarketQuery, Offer, Rental, RentalsQuery, RentalState } from '@p2pvps/protocol/schemas';
import { notRentableHere, peerListings } from '../federation/peer-listings.ts';
import { isUniqueViolation, type Db } from '../../db/database.ts';
import { findDevice, listMarket, uptimePercent, type DeviceRow } from '../../db/devices-repo.ts';
import { findRental, insertRental, listExpiredRentals, listRenterRentals, type RentalRow } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { webHost } from '../devices/devices.ts';
import { effectiveOffer, offeredHardware } from '../devices/offer.ts';
import { rotateWebName } from '../devices/web-names.ts';
import { DomainError } from '../errors.ts';
import { decodeCursor, pageOf, type Page } from '../paging.ts';
import { placeHold } from '../money/holds.ts';
import { renewIfAsked, setAutoRenew } from './auto-renew.ts';
import { endRental } from './ending.ts';
import { addPrepaidHours, checkFunds } from './prepaid-terms.ts';
import { revealPassword } from './rental-passwords.ts';
import { newRentalRow } from './new-rental-row.ts';
import { desired } from './desired-rental.ts';
import { recordRentalEvent } from './rental-log.ts';
import { withRatings } from '../reviews/reviews.ts';
import { verificationOf } from '../devices/hardware-claims.ts';
import { inTransaction } from '../../db/transactions.ts';
import { holdSecretAtRent } from './encrypted-storage.ts';
import { presentRentalApp, refusedPackagesOf, resolveRentPackage } from '../packages/app-packages.ts';

function portSuffix(port: number, standard: number): string {
  return port === standard ? '' : `:${port}`;
}

export function presentRental(
  ctx: DomainContext,
  row: RentalRow,
  device: (Pick<DeviceRow, 'ssh_port' | 'web_name'> & Partial<Pick<DeviceRow, 'hardware' | 'storage_locked'>>) | undefined,
): Rental {
  const host = ctx.settings.sshHost;
  const port = Number(device?.ssh_port ?? 0);
  // An ended rental's web name is no longer its own (the device's next rental gets a new one): stop showing it.
  const web = device && row.state !== 'ended' ? webHost(ctx, device.web_name) : '';
  // What the rental was rented with, never the device's totals; rentals from before offers have none to show.
  const offer = row.offer ? (JSON.parse(row.offer) as Offer) : null;
  const urls = {
    httpUrl: web && `http://${web}${portSuffix(ctx.settings.httpPort, 80)}/`,
    httpsUrl: web && `https://${web}${portSuffix(ctx.settings.httpsPort, 443)}/`,
    sshCommand: `ssh -p ${port} ${row.username}@${host}`,
  };
  return {
    id: row.id,
    deviceId: row.device_id,
    deviceName: row.device_name,
    state: row.state as RentalState,
    endReason: row.end_reason as EndReason | null,
    detail: row.detail,
    createdAt: row.created_at,
    activatedAt: row.activated_at,
    expiresAt: row.expires_at,
    endedAt: row.ended_at,
    pricePerHourMicros: row.price_per_hour_micros === null ? null : Number(row.price_per_hour_micros),
    costMicros: Number(row.charged_micros),
    currency: ctx.settings.currency,
    prepaidHours: row.hours,
    autoRenew: row.auto_renew === 1,
    deviceHardware: device?.hardware && offer ? offeredHardware(JSON.parse(device.hardware) as Hardware, offer) : null,
    bandwidthMbit: offer?.bandwidthMbit ?? null,
    deviceOnline: ctx.tunnels.isOnline(row.device_id),
    connection: {
      host,
      port,
      username: row.username,
      // Once the container is gone the password opens nothing; stop handing it out.
      password: revealPassword(ctx, row),
      sshKeyGiven: row.ssh_public_key !== null,
      sshCommand: urls.sshCommand,
      webHost: web,
      httpUrl: urls.httpUrl,
      httpsUrl: urls.httpsUrl,
    },
    encrypted: row.encrypted === 1,
    storageLocked: row.encrypted === 1 && row.state !== 'ended' ? (device?.storage_locked ?? null) : null,
    app: row.app ? presentRentalApp({ app: row.app, app_state: row.app_state ?? null, app_log: row.app_log ?? null }, urls) : null,
  };
}

async function present(ctx: DomainContext, row: RentalRow): Promise<Rental> {
  const device = await findDevice(ctx.db, row.device_id);
  return presentRental(ctx, row, device);
}

const sorters: Record<MarketQuery['sort'], (l: Listing) => number> = {
  price: (l) => l.pricePerHourMicros,
  memory: (l) => l.hardware.memoryBytes,
  cores: (l) => l.hardware.cores,
  disk: (l) => l.hardware.diskBytes,
  // New devices (no score yet) sort below every scored one.
  reliability: (l) => l.reliabilityPercent ?? -1,
};

/**
 * What a listing shows of a device: the offer's cores, memory and disk (never the device's
 * totals) with its CPU model and architecture. A device's hardware and offer are JSON in its
 * row and rarely change: each distinct pair is worked out once, not on every market call
 * (the market is public and unauthenticated).
 */
const parsedOffers = new Map<string, { hardware: Hardware; offer: Offer }>();
function listedOffer(hardwareJson: string, offerJson: string | null | undefined): { hardware: Hardware; offer: Offer } {
  const key = `${hardwareJson}\n${offerJson ?? ''}`;
  let listed = parsedOffers.get(key);
  if (!listed) {
    if (parsedOffers.size >= 10_000) parsedOffers.clear();
    const hardware = JSON.parse(hardwareJson) as Hardware;
    const offer = effectiveOffer(hardware, offerJson);
    listed = { hardware: offeredHardware(hardware, offer), offer };
    parsedOffers.set(key, listed);
  }
  return listed;
}

/**
 * Every listing, for all market callers at once: concurrent calls share the query in
 * flight, so a flood of anonymous requests costs one query at a time, and nobody is ever
 * shown a device that was rented since (as a time-based cache would).
 */
const inFlight = new WeakMap<DomainContext, Promise<Listing[]>>();
export function allListings(ctx: DomainContext): Promise<Listing[]> {
  let running = inFlight.get(ctx);
  if (!running) {
    running = listMarket(ctx.db)
      .then((rows) =>
        rows
          .filter((r) => ctx.tunnels.isOnline(r.id))
          .map((r) => ({
            deviceId: r.id,
            name: r.name,
            description: r.description,
            hardware: listedOffer(r.hardware!, r.offer).hardware,
            bandwidthMbit: listedOffer(r.hardware!, r.offer).offer.bandwidthMbit,
            pricePerHourMicros: Number(r.price_per_hour_micros),
            homeServer: ctx.settings.serverName,
            listedSince: r.listed_since,
            uptimePercent: uptimePercent(r, ctx.clock.now()),
            reliabilityPercent: r.reliability_percent ?? null,
            verified: verificationOf(r),
            refusedPackages: refusedPackagesOf(r.refused_packages),
          })),
      )
      .then((listings) => withRatings(ctx, listings))
      .finally(() => inFlight.delete(ctx));
    inFlight.set(ctx, running);
  }
  return running;
}

/** A page of the market: filtered, sorted, then keyset-paged on (sort value, device ID). */
export async function market(ctx: DomainContext, q: MarketQuery): Promise<Page<Listing>> {
  const key = sorters[q.sort];
  const dir = q.order === 'asc' ? 1 : -1;
  const after = decodeCursor(q.cursor, ['number', 'string'] as const);
  if (q.package !== undefined && !ctx.appCatalogue?.recipes.has(q.package))
    throw new DomainError('invalid_request', `There is no package named ${q.package}; "p2pvps packages" lists them.`, {
      'query.package': 'unknown package',
    });
  const order = (a: Listing, b: Listing) => dir * (key(a) - key(b)) || a.deviceId.localeCompare(b.deviceId);
  // Federation: peers' listings beside our own, marked with their home server.
  const listings = [...(await allListings(ctx)), ...(await peerListings(ctx))]
    .filter(
      (l) =>
        (q.maxPriceMicros === undefined || l.pricePerHourMicros <= q.maxPriceMicros) &&
        (q.minMemoryBytes === undefined || l.hardware.memoryBytes >= q.minMemoryBytes) &&
        (q.minCores === undefined || l.hardware.cores >= q.minCores) &&
        (q.minDiskBytes === undefined || l.hardware.diskBytes >= q.minDiskBytes) &&
        (q.arch === undefined || l.hardware.arch === q.arch) &&
        (q.minReliability === undefined || (l.reliabilityPercent !== null && l.reliabilityPercent >= q.minReliability)) &&
        (q.package === undefined || !(l.refusedPackages ?? []).includes(q.package)) &&
        (after === undefined || dir * (key(l) - after[0]) > 0 || (key(l) === after[0] && l.deviceId > after[1])),
    )
    .sort(order);
  return pageOf(listings, q.limit, (l) => [key(l), l.deviceId]);
}

/**
 * Rents a listed device. The rental row's unique open_device_id is what makes two
 * concurrent renters safe: exactly one insert succeeds.
 */
export async function rent(
  ctx: DomainContext,
  renterId: string,
  input: {
    deviceId: string;
    sshPublicKey?: string;
    hours?: number;
    autoRenew?: boolean;
    encryptionKey?: string;
    package?: RentPackage;
  },
): Promise<Rental> {
  const device = await findDevice(ctx.db, input.deviceId);
  if (!device) {
    // A peer's device: rented through its home server, which runs it (federation/remote-rentals.ts).
    const remote = await ctx.remoteRentals?.rent(renterId, input);
    if (remote) return remote;
    throw await notRentableHere(ctx, input.deviceId);
  }
  if (device.owner_id === renterId) throw new DomainError('own_device');
  const listed =
    device.public_key !== null &&
    device.on_market === 1 &&
    device.price_per_hour_micros !== null &&
    device.storage_fault === null &&
    !device.hardware_flag &&
    ctx.tunnels.isOnline(device.id);
  if (!listed || device.hardware === null) throw new DomainError('device_not_listed');
  if (input.autoRenew && !input.hours)
    throw new DomainError(
      'invalid_request',
      'Only a prepaid rental (with hours) can renew itself; a pay-as-you-go one runs until you stop it.',
      {
        'body.autoRenew': 'needs hours',
      },
    );
  const app = input.package
    ? resolveRentPackage(ctx.appCatalogue, input.package, {
        name: device.name,
        refusedPackages: refusedPackagesOf(device.refused_packages),
      })
    : null;
  const price = BigInt(device.price_per_hour_micros as number | bigint);
  // A prepaid term is held whole; otherwise the balance must cover the minimum hours.
  const required = price * BigInt(input.hours ?? ctx.settings.rentMinimumHours);
  const row: RentalRow = {
    ...newRentalRow(ctx, device, {
      renterId,
      hours: input.hours ?? null,
      autoRenew: !!input.autoRenew,
      sshPublicKey: input.sshPublicKey ?? null,
    }),
    encrypted: input.encryptionKey ? 1 : 0,
    app: app && JSON.stringify(app),
    app_state: app && 'pending',
    app_log: null,
  };
  // The secret is held in memory for the device before the row exists, so no heartbeat finds the rental without it.
  if (input.encryptionKey) holdSecretAtRent(ctx, row.id, input.encryptionKey);
  try {
    await inTransaction(ctx.db, async (trx) => {
      await checkFunds(trx, ctx, renterId, required, input.hours ? `Renting ${input.hours} h of this device` : 'Renting this device');
      await insertRental(trx, row);
      await recordRentalEvent(trx, row.id, 'requested', row.created_at);
      if (input.hours) await placeHold(trx, ctx, row, required);
    });
  } catch (err) {
    ctx.storageSecrets?.drop(row.id);
    if (isUniqueViolation(err)) throw new DomainError('device_not_listed');
    throw err;
  }
  const webName = await rotateWebName(ctx, device.id);
  // The rental rides the nudge: the agent starts on it without waiting for a heartbeat. Not
  // an encrypted one: its secret goes only in a heartbeat reply, never through the event bus
  // (on PostgreSQL that is the database's NOTIFY).
  ctx.notifyDevice(device.id, 'rental_requested', row.encrypted ? undefined : desired(ctx, row, webHost(ctx, webName)));
  return presentRental(ctx, row, { ...device, web_name: webName });
}

async function renterRental(ctx: DomainContext, renterId: string, rentalId: string): Promise<RentalRow> {
  const row = await findRental(ctx.db, rentalId);
  if (!row || row.renter_id !== renterId) throw new DomainError('not_found');
  return row;
}

export async function getRental(ctx: DomainContext, renterId: string, rentalId: string): Promise<Rental> {
  const row = await findRental(ctx.db, rentalId);
  if (!row || row.renter_id !== renterId) {
    const remote = await ctx.remoteRentals?.get(renterId, rentalId);
    if (remote) return remote;
    throw new DomainError('not_found');
  }
  return present(ctx, row);
}

/** A page of the renter's rentals (open ones unless `all`), newest first; keyset on (created at, ID). */
export async function listRentals(ctx: DomainContext, renterId: string, q: RentalsQuery): Promise<Page<Rental>> {
  const after = decodeCursor(q.cursor, ['string', 'string'] as const);
  const rows = await listRenterRentals(ctx.db, renterId, q.all === 'true', { limit: q.limit + 1, ...(after ? { before: after } : {}) });
  const page = pageOf(rows, q.limit, (r) => [r.created_at, r.id]);
  const items = await Promise.all(page.items.map((r) => present(ctx, r)));
  // Rentals of peers' devices (few) lead the first page.
  const remote = after === undefined ? ((await ctx.remoteRentals?.list(renterId, q.all === 'true')) ?? []) : [];
  return { items: [...remote, ...items], next: page.next };
}

export async function stopRental(ctx: DomainContext, renterId: string, rentalId: string): Promise<Rental> {
  const remote = await ctx.remoteRentals?.stop(renterId, rentalId);
  if (remote) return remote;
  const row = await renterRental(ctx, renterId, rentalId);
  if (!(await endRental(ctx, row, 'renter_stopped'))) {
    const now = await findRental(ctx.db, rentalId);
    if (now?.state === 'ended' || now?.state === 'ending') throw new DomainError('rental_not_open');
  }
  return getRental(ctx, renterId, rentalId);
}

/**
 * Adds hours to a prepaid rental (their price, at the rental's price, is held from the
 * balance and the expiry moves on) and/or turns its auto-renewal on or off, in one
 * transaction. A pay-as-you-go rental runs until stopped and has nothing to extend.
 */
export async function extendRental(
  ctx: DomainContext,
  renterId: string,
  rentalId: string,
  change: { hours?: number; autoRenew?: boolean },
): Promise<Rental> {
  if (change.hours === undefined && change.autoRenew === undefined)
    throw new DomainError('invalid_request', 'Say how many hours to add, or whether the rental renews itself, or both.', {
      body: 'needs hours or autoRenew',
    });
  await inTransaction(ctx.db, async (trx) => {
    const row = await findRental(trx, rentalId);
    if (!row || row.renter_id !== renterId) throw new DomainError('not_found');
    if (row.state !== 'requested' && row.state !== 'active') throw new DomainError('rental_not_open');
    if (row.hours === null) {
      throw new DomainError('invalid_request', 'This rental runs until you stop it and is billed per minute; there is nothing to extend.', {
        'params.rentalId': 'not a prepaid rental',
      });
    }
    if (change.hours !== undefined) await addPrepaidHours(trx, ctx, row, change.hours, `Adding ${change.hours} h`);
    if (change.autoRenew !== undefined) await setAutoRenew(trx, row.id, change.autoRenew);
  });
  return getRental(ctx, renterId, rentalId);
}

/**
 * The worker's job: every active rental whose term has run out renews itself for its term
 * if it has auto-renewal on and the balance covers it (auto-renew.ts), and ends otherwise.
 */
export async function endExpiredRentals(ctx: DomainContext): Promise<number> {
  const expired = await listExpiredRentals(ctx.db, ctx.clock.now().toISOString());
  let ended = 0;
  for (const row of expired) {
    const renewal = await renewIfAsked(ctx, row);
    if (renewal.renewed) continue;
    if (await endRental(ctx, row, 'expired', renewal.why)) ended++;
  }
  return ended;
}
