import { ed25519KeyFromOpenSsh } from '@p2pvps/protocol/device-auth';
import type { Device, EnrolmentTokenGrant, Hardware, Offer } from '@p2pvps/protocol/schemas';
import type { RegisterBody, Registration } from '@p2pvps/protocol/agent-schemas';
import { isUniqueViolation, type Db } from '../../db/database.ts';
import {
  countPendingDevices,
  deleteExpiredPendingDevices,
  findDevice,
  findEnrolmentToken,
  insertDevice,
  insertEnrolmentToken,
  listOwnerDevices,
  revokeEnrolmentTokens,
  spendEnrolmentToken,
  updateDevice as updateDeviceRow,
  uptimePercent,
  usedPorts,
  type DeviceRow,
} from '../../db/devices-repo.ts';
import { findOpenRentalForDevice, updateRentalFrom } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { announceEnd, endRentalIn } from '../rentals/ending.ts';
import { hashSecret, newId, newWebName } from '../secrets.ts';
import { checkEnrolmentToken, issueEnrolmentToken } from './enrolment-token.ts';
import { verificationOf } from './hardware-claims.ts';
import { changedOffer, effectiveOffer } from './offer.ts';
import { refusedPackagesOf } from '../packages/app-packages.ts';
import { lowestFreePort } from './port-allocation.ts';
import { inTransaction } from '../../db/transactions.ts';

/** The device's public web name, e.g. `k3x9q2ab.vps.example.org`. */
export function webHost(ctx: DomainContext, webName: string): string {
  return `${webName}.${ctx.settings.webDomain}`;
}

export function presentDevice(ctx: DomainContext, row: DeviceRow, openRentalId: string | null): Device {
  const online = row.online === 1;
  const listed =
    online &&
    row.on_market === 1 &&
    row.price_per_hour_micros !== null &&
    row.hardware !== null &&
    row.storage_fault === null &&
    !row.hardware_flag &&
    openRentalId === null;
  const hardware = row.hardware ? (JSON.parse(row.hardware) as Hardware) : null;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    status: row.public_key === null ? 'awaiting_enrolment' : openRentalId ? 'rented' : online ? 'online' : 'offline',
    online,
    onMarket: row.on_market === 1,
    listed,
    pricePerHourMicros: row.price_per_hour_micros === null ? null : Number(row.price_per_hour_micros),
    sshPort: row.ssh_port === null ? null : Number(row.ssh_port),
    webHost: webHost(ctx, row.web_name),
    hardware,
    offer: hardware ? effectiveOffer(hardware, row.offer) : null,
    offerIsDefault: !row.offer,
    enrolledAt: row.enrolled_at,
    lastHeartbeatAt: row.last_heartbeat_at,
    lastSeenAt: row.last_seen_at,
    openRentalId,
    storageFault: row.storage_fault,
    storageLocked: row.storage_locked ?? null,
    uptimePercent: uptimePercent(row, ctx.clock.now()),
    reliabilityPercent: row.reliability_percent ?? null,
    hardwareFlag: row.hardware_flag ?? null,
    verified: verificationOf(row),
    refusedPackages: refusedPackagesOf(row.refused_packages),
    createdAt: row.created_at,
  };
}

export async function presentDeviceById(ctx: DomainContext, id: string): Promise<Device> {
  const row = await findDevice(ctx.db, id);
  if (!row) throw new DomainError('not_found');
  return presentDevice(ctx, row, (await findOpenRentalForDevice(ctx.db, id))?.id ?? null);
}

/** An owner's device, or not_found: other people's devices are invisible, not forbidden. */
async function ownedDevice(ctx: DomainContext, ownerId: string, deviceId: string): Promise<DeviceRow> {
  const row = await findDevice(ctx.db, deviceId);
  if (!row || row.owner_id !== ownerId) throw new DomainError('not_found');
  return row;
}

export async function listDevices(ctx: DomainContext, ownerId: string): Promise<Device[]> {
  const rows = await listOwnerDevices(ctx.db, ownerId);
  return Promise.all(rows.map(async (r) => presentDevice(ctx, r, (await findOpenRentalForDevice(ctx.db, r.id))?.id ?? null)));
}

export async function getDevice(ctx: DomainContext, ownerId: string, deviceId: string): Promise<Device> {
  await ownedDevice(ctx, ownerId, deviceId);
  return presentDeviceById(ctx, deviceId);
}

/** Devices an owner may have awaiting their first enrolment at once, unless the operator says otherwise. */
export const defaultMaxPendingDevices = 5;

/**
 * Adds a device awaiting enrolment. It gets its public SSH port only when it enrols
 * (`registerDevice`), so devices that never enrol hold none; an owner may have only a few
 * awaiting at once, and those whose token expires unused are deleted (`reclaimUnenrolledDevices`).
 */
export async function addDevice(ctx: DomainContext, ownerId: string, name: string, description: string): Promise<EnrolmentTokenGrant> {
  const now = ctx.clock.now().toISOString();
  const id = newId();
  const max = ctx.settings.maxPendingDevices ?? defaultMaxPendingDevices;
  let issued: Awaited<ReturnType<typeof storeEnrolmentToken>> | undefined;
  // The check and the insert are one transaction, so parallel adds cannot slip past the cap.
  await inTransaction(ctx.db, async (trx) => {
    if ((await countPendingDevices(trx, ownerId)) >= max)
      throw new DomainError(
        'too_many_pending_devices',
        `You have ${max} devices awaiting enrolment; enrol one, or remove one you will not enrol, before adding another.`,
      );
    await insertDevice(trx, {
      id,
      owner_id: ownerId,
      name,
      description,
      public_key: null,
      hardware: null,
      ssh_port: null,
      web_name: newWebName(),
      price_per_hour_micros: null,
      on_market: 0,
      online: 0,
      enrolled_at: null,
      last_heartbeat_at: null,
      last_seen_at: null,
      listed_since: null,
      created_at: now,
      removed_at: null,
      storage_fault: null,
      online_since: null,
      online_ms: 0,
      uptime_tracked_since: null,
    });
    // With its token in the same transaction: a device without a live token is one the
    // housekeeping deletes (deleteExpiredPendingDevices), and it may run in between.
    issued = await storeEnrolmentToken(ctx, trx, id);
  });
  return enrolmentGrant(ctx, id, issued!);
}

/** Deletes devices that never enrolled and whose every enrolment token has expired or been spent; returns how many. */
export function reclaimUnenrolledDevices(ctx: DomainContext): Promise<number> {
  return deleteExpiredPendingDevices(ctx.db, ctx.clock.now().toISOString());
}

/**
 * The lowest free public SSH port, given to a device at its first enrolment. The unique
 * constraint on ssh_port settles races; on SQLite the enrolment's transaction already
 * serializes them.
 */
async function allocatePort(ctx: DomainContext, db: Db, deviceId: string): Promise<number> {
  const port = lowestFreePort(ctx.settings.sshPortRange, await usedPorts(db, ctx.settings.sshPortRange));
  if (port === null) throw new DomainError('port_range_exhausted');
  await updateDeviceRow(db, deviceId, { ssh_port: port });
  return port;
}

/** A new enrolment token for the device, in place of any it had. */
async function storeEnrolmentToken(ctx: DomainContext, db: Db, deviceId: string) {
  const now = ctx.clock.now();
  const issued = issueEnrolmentToken(now, ctx.settings.enrolmentTokenTtlMs);
  await revokeEnrolmentTokens(db, deviceId, now.toISOString());
  await insertEnrolmentToken(db, {
    id: newId(),
    device_id: deviceId,
    token_hash: issued.tokenHash,
    expires_at: issued.expiresAt.toISOString(),
    spent_at: null,
    created_at: now.toISOString(),
  });
  return issued;
}

async function enrolmentGrant(
  ctx: DomainContext,
  deviceId: string,
  issued: Awaited<ReturnType<typeof storeEnrolmentToken>>,
): Promise<EnrolmentTokenGrant> {
  return {
    device: await presentDeviceById(ctx, deviceId),
    enrolmentToken: issued.token,
    expiresAt: issued.expiresAt.toISOString(),
    serverUrl: ctx.settings.publicUrl,
  };
}

/** Re-enrolment: a new token; the device's old key stops working at once. */
export async function reissueEnrolmentToken(ctx: DomainContext, ownerId: string, deviceId: string): Promise<EnrolmentTokenGrant> {
  await ownedDevice(ctx, ownerId, deviceId);
  if (await findOpenRentalForDevice(ctx.db, deviceId)) throw new DomainError('device_rented');
  await updateDeviceRow(ctx.db, deviceId, { public_key: null, online: 0, enrolled_at: null });
  ctx.tunnels.disconnect(deviceId);
  return enrolmentGrant(ctx, deviceId, await storeEnrolmentToken(ctx, ctx.db, deviceId));
}

export async function updateDevice(
  ctx: DomainContext,
  ownerId: string,
  deviceId: string,
  changes: {
    name?: string;
    description?: string;
    pricePerHourMicros?: number;
    onMarket?: boolean;
    offer?: Partial<Offer> | null;
    refusedPackages?: string[];
  },
): Promise<Device> {
  const row = await ownedDevice(ctx, ownerId, deviceId);
  const patch: Partial<DeviceRow> = {};
  // Checked first, so a refused offer changes nothing else either. An open rental keeps the offer it was rented with.
  if (changes.offer !== undefined) {
    // Before the device enrols there is no hardware to keep within, nor an offer to go back from.
    const offer = changedOffer(row.hardware ? (JSON.parse(row.hardware) as Hardware) : null, row.offer, changes.offer ?? {});
    patch.offer = changes.offer === null ? null : JSON.stringify(offer);
  }
  if (changes.refusedPackages !== undefined) {
    // A name the catalogue does not hold is refused, so a typo does not leave a package allowed.
    const unknown = changes.refusedPackages.filter((n) => !ctx.appCatalogue?.recipes.has(n));
    if (unknown.length > 0)
      throw new DomainError('invalid_request', `There is no package named ${unknown.join(', ')}; "p2pvps packages" lists them.`, {
        'body.refusedPackages': 'unknown package',
      });
    patch.refused_packages = changes.refusedPackages.length ? JSON.stringify([...new Set(changes.refusedPackages)].sort()) : null;
  }
  if (changes.name !== undefined) patch.name = changes.name;
  if (changes.description !== undefined) patch.description = changes.description;
  if (changes.pricePerHourMicros !== undefined) patch.price_per_hour_micros = changes.pricePerHourMicros;
  if (changes.onMarket !== undefined) {
    patch.on_market = changes.onMarket ? 1 : 0;
    if (changes.onMarket && row.on_market === 0) patch.listed_since = ctx.clock.now().toISOString();
  }
  await updateDeviceRow(ctx.db, deviceId, patch);
  // An idle agent sizes its clean storage for the next rental when it hears of a new offer.
  if (changes.offer !== undefined) ctx.notifyDevice(deviceId, 'offer_changed');
  return presentDeviceById(ctx, deviceId);
}

/**
 * Removing a device releases its port and revokes its key. An open rental on it ends the
 * normal way, with reason device_removed (billed up to now, a prepaid hold's unused part
 * returned, the renter told), and is closed at once: the agent, refused from then on,
 * wipes its container by itself.
 */
export async function removeDevice(ctx: DomainContext, ownerId: string, deviceId: string): Promise<void> {
  await ownedDevice(ctx, ownerId, deviceId);
  const now = ctx.clock.now().toISOString();
  const ended = await inTransaction(ctx.db, async (trx) => {
    const open = await findOpenRentalForDevice(trx, deviceId);
    const endedNow = open ? await endRentalIn(trx, ctx, open, 'device_removed') : false;
    // Whether it ended now or was already ending, nothing will report its wipe any more.
    if (open) await updateRentalFrom(trx, open.id, 'ending', { state: 'ended', ended_at: now, open_device_id: null });
    await revokeEnrolmentTokens(trx, deviceId, now);
    await updateDeviceRow(trx, deviceId, { removed_at: now, ssh_port: null, public_key: null, online: 0, on_market: 0 });
    return endedNow ? open : undefined;
  });
  if (ended) announceEnd(ctx, ended, 'device_removed');
  ctx.tunnels.disconnect(deviceId);
}

/** The agent trades its enrolment token for an identity bound to its own key. */
export async function registerDevice(ctx: DomainContext, body: RegisterBody, gateway: Registration['gateway']): Promise<Registration> {
  if (!ed25519KeyFromOpenSsh(body.publicKey))
    throw new DomainError('invalid_request', 'The device key must be an ssh-ed25519 public key.', {
      publicKey: 'must be an ssh-ed25519 key',
    });
  const now = ctx.clock.now();
  const token = await findEnrolmentToken(ctx.db, hashSecret(body.enrolmentToken));
  if (checkEnrolmentToken(token, now) || !token) throw new DomainError('enrolment_token_invalid');
  const publicKey = body.publicKey.split(/\s+/).slice(0, 2).join(' ');
  return inTransaction(ctx.db, async (trx) => {
    if (!(await spendEnrolmentToken(trx, token.id, now.toISOString()))) throw new DomainError('enrolment_token_invalid');
    const device = await findDevice(trx, token.device_id);
    if (!device) throw new DomainError('enrolment_token_invalid');
    // A re-enrolling device keeps its port; a new one gets its port now.
    const sshPort = device.ssh_port === null ? await allocatePort(ctx, trx, device.id) : Number(device.ssh_port);
    try {
      await updateDeviceRow(trx, device.id, {
        public_key: publicKey,
        hardware: JSON.stringify(body.hardware),
        enrolled_at: now.toISOString(),
        // A new identity starts a new uptime record.
        uptime_tracked_since: now.toISOString(),
        online_ms: 0,
        online_since: null,
        // The new key's timestamps start afresh.
        last_signed_ts: null,
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError('device_key_taken');
      throw err;
    }
    return { deviceId: device.id, sshPort, gateway };
  });
}
