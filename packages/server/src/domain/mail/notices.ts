import type { EndReason } from '@p2pvps/protocol/schemas';
import { findUserById, type UserRow } from '../../db/accounts-repo.ts';
import { findDevice, listOfflineDevicesUnnoticed } from '../../db/devices-repo.ts';
import { findDispute } from '../../db/disputes-repo.ts';
import { insertMail } from '../../db/mail-repo.ts';
import { findRental, listRentalsEndingUnnoticed } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { balanceOf } from '../money/ledger.ts';
import { lowBalanceMinutes } from '../money/metering.ts';
import { formatMoney } from '../money/money.ts';
import { formatMoney as exactMoney } from '@p2pvps/protocol/money';
import { presentRental } from '../rentals/rentals.ts';
import { newId } from '../secrets.ts';
import {
  balanceExhaustedMail,
  balanceLowMail,
  deviceOfflineMail,
  disputeResolvedMail,
  hardwareFlaggedMail,
  rentalActiveMail,
  rentalEndedMail,
  rentalEndingSoonMail,
  type MailContent,
} from './messages.ts';

/**
 * Which notices go to whom, and when. Each is queued as a row whose dedup key names the
 * event (this rental's start, this outage of that device…), so a notice is queued once
 * however often the event is reported or its job looks; delivery is the mail queue's job.
 */

/** A renter is reminded this long before a rental with an expiry ends. */
export const endingSoonMs = 30 * 60_000;
/**
 * An owner hears of a device offline this long: longer than `timing.offlineAfterMs`, when
 * it is shown offline, so a router's reboot sends no mail.
 */
export const offlineNoticeAfterMs = 5 * 60_000;

export type MailKind =
  | 'rental_active'
  | 'rental_ending_soon'
  | 'rental_ended'
  | 'balance_low'
  | 'balance_exhausted'
  | 'device_offline'
  | 'dispute_resolved'
  | 'hardware_flagged';

const base = (ctx: DomainContext) => ctx.settings.publicUrl.replace(/\/+$/, '');
/** Dashboard pages the mails link to. */
export const dashboardUrl = {
  rental: (ctx: DomainContext, id: string) => `${base(ctx)}/rentals/${id}`,
  device: (ctx: DomainContext, id: string) => `${base(ctx)}/devices/${id}`,
  account: (ctx: DomainContext) => `${base(ctx)}/account`,
};

async function queue(ctx: DomainContext, kind: MailKind, dedupKey: string, user: UserRow, content: MailContent): Promise<boolean> {
  // Nothing but the verification link goes to an address its owner has not confirmed.
  if (!user.email_verified_at) return false;
  return insertMail(ctx.db, {
    id: newId(),
    dedup_key: dedupKey,
    kind,
    user_id: user.id,
    to_address: user.email,
    subject: content.subject,
    text_body: content.text,
    html_body: content.html,
    created_at: ctx.clock.now().toISOString(),
  });
}

/** The renter's connection details once the container is ready; the password only if they chose that. */
export async function queueRentalActive(ctx: DomainContext, rentalId: string): Promise<boolean> {
  const row = await findRental(ctx.db, rentalId);
  const renter = row && (await findUserById(ctx.db, row.renter_id));
  if (!row || !renter) return false;
  const rental = presentRental(ctx, row, await findDevice(ctx.db, row.device_id));
  const content = rentalActiveMail({
    marketName: ctx.settings.serverName,
    deviceName: row.device_name,
    rentalUrl: dashboardUrl.rental(ctx, row.id),
    sshCommand: rental.connection.sshCommand,
    username: rental.connection.username,
    password: renter.email_rental_password === 1 ? rental.connection.password : null,
    sshKeyGiven: rental.connection.sshKeyGiven,
    httpUrl: rental.connection.httpUrl,
    httpsUrl: rental.connection.httpsUrl,
    expiresAt: row.expires_at,
  });
  return queue(ctx, 'rental_active', `rental_active:${row.id}`, renter, content);
}

export async function queueRentalEnded(ctx: DomainContext, rentalId: string): Promise<boolean> {
  const row = await findRental(ctx.db, rentalId);
  const renter = row && (await findUserById(ctx.db, row.renter_id));
  if (!row?.end_reason || !renter) return false;
  const content = rentalEndedMail({
    marketName: ctx.settings.serverName,
    deviceName: row.device_name,
    rentalUrl: dashboardUrl.rental(ctx, row.id),
    reason: row.end_reason as EndReason,
    deviceLostGraceMs: ctx.settings.deviceLostGraceMs,
    cost: formatMoney(BigInt(row.charged_micros), ctx.settings.currency),
    // Only auto-renew.ts sets the detail of an expired rental: the server's own words, never the device's.
    notRenewed: row.end_reason === 'expired' && row.auto_renew === 1 ? row.detail : null,
  });
  return queue(ctx, 'rental_ended', `rental_ended:${row.id}`, renter, content);
}

/**
 * The meter's warnings. It reports them per rental; the key is the renter and the moment
 * the meter marked the balance low (or used up), which all of that renter's rentals share,
 * so a renter with three rentals gets one mail.
 */
export async function queueBalanceNotice(
  ctx: DomainContext,
  userId: string,
  event: 'balance_low' | 'balance_exhausted',
  rentalId: string,
): Promise<boolean> {
  const [row, user] = await Promise.all([findRental(ctx.db, rentalId), findUserById(ctx.db, userId)]);
  const at = event === 'balance_low' ? row?.balance_low_at : row?.balance_exhausted_at;
  if (!user || !at) return false;
  const balance = formatMoney(await balanceOf(ctx.db, { kind: 'renter_balance', userId }), ctx.settings.currency);
  const common = { marketName: ctx.settings.serverName, balance, topUpUrl: dashboardUrl.account(ctx) };
  const content =
    event === 'balance_low'
      ? balanceLowMail({ ...common, minutes: lowBalanceMinutes })
      : balanceExhaustedMail({ ...common, graceMs: ctx.settings.balanceGraceMs });
  return queue(ctx, event, `${event}:${userId}:${at}`, user, content);
}

/** The worker's job: remind renters of rentals that end within `endingSoonMs`, once per expiry time. */
export async function queueEndingSoonNotices(ctx: DomainContext): Promise<number> {
  const now = ctx.clock.now();
  const rows = await listRentalsEndingUnnoticed(ctx.db, now.toISOString(), new Date(now.getTime() + endingSoonMs).toISOString());
  let queued = 0;
  for (const row of rows) {
    const renter = await findUserById(ctx.db, row.renter_id);
    if (!renter) continue;
    const content = rentalEndingSoonMail({
      marketName: ctx.settings.serverName,
      deviceName: row.device_name,
      rentalUrl: dashboardUrl.rental(ctx, row.id),
      expiresAt: row.expires_at!,
      leftMs: new Date(row.expires_at!).getTime() - now.getTime(),
      renewsForHours: row.auto_renew === 1 ? row.term_hours : null,
    });
    if (await queue(ctx, 'rental_ending_soon', `rental_ending_soon:${row.id}:${row.expires_at}`, renter, content)) queued++;
  }
  return queued;
}

/**
 * The worker's job: tell owners of devices whose tunnel has been down for longer than
 * `offlineNoticeAfterMs`, once per outage (the key is the device and when it went down).
 * Time before `watchingSince` (the server's start) does not count: after a restart every
 * device is offline until its tunnel returns, and that is no news to its owner.
 */
export async function queueDeviceOfflineNotices(ctx: DomainContext, watchingSince: Date): Promise<number> {
  const now = ctx.clock.now();
  const cutoff = new Date(now.getTime() - offlineNoticeAfterMs);
  if (watchingSince > cutoff) return 0;
  const rows = await listOfflineDevicesUnnoticed(ctx.db, cutoff.toISOString());
  let queued = 0;
  for (const d of rows) {
    // The flag lags the gateway by a write; the gateway is the truth.
    if (ctx.tunnels.isOnline(d.id)) continue;
    const owner = await findUserById(ctx.db, d.ownerId);
    if (!owner) continue;
    const content = deviceOfflineMail({
      marketName: ctx.settings.serverName,
      deviceName: d.name,
      since: d.since!,
      deviceUrl: dashboardUrl.device(ctx, d.id),
      rentedGraceMs: d.rentalId ? ctx.settings.deviceLostGraceMs : null,
    });
    if (await queue(ctx, 'device_offline', `device_offline:${d.id}:${d.since}`, owner, content)) queued++;
  }
  return queued;
}

/** The operator decided a renter's dispute: what was refunded, or that nothing was, with their note. Once per dispute. */
export async function queueDisputeResolved(ctx: DomainContext, disputeId: string): Promise<boolean> {
  const dispute = await findDispute(ctx.db, disputeId);
  const row = dispute && (await findRental(ctx.db, dispute.rental_id));
  const renter = row && (await findUserById(ctx.db, row.renter_id));
  if (!dispute || dispute.state === 'open' || !row || !renter) return false;
  const refund = BigInt(dispute.refund_micros);
  const content = disputeResolvedMail({
    marketName: ctx.settings.serverName,
    deviceName: row.device_name,
    rentalUrl: dashboardUrl.rental(ctx, row.id),
    // Exact (a refund of 0.045 is not 0.05).
    refund: refund > 0n ? exactMoney(Number(refund), ctx.settings.currency) : null,
    note: dispute.note || null,
  });
  return queue(ctx, 'dispute_resolved', `dispute_resolved:${dispute.id}`, renter, content);
}

/** The owner hears why a benchmark kept their device off the market (once per benchmark that flagged it). */
export async function queueHardwareFlagged(ctx: DomainContext, deviceId: string, nonce: string, reasons: string[]): Promise<boolean> {
  const device = await findDevice(ctx.db, deviceId);
  const owner = device && (await findUserById(ctx.db, device.owner_id));
  if (!device || !owner) return false;
  const content = hardwareFlaggedMail({
    marketName: ctx.settings.serverName,
    deviceName: device.name,
    reasons,
    deviceUrl: dashboardUrl.device(ctx, deviceId),
  });
  const queued = await queue(ctx, 'hardware_flagged', `hardware_flagged:${deviceId}:${nonce}`, owner, content);
  if (queued) ctx.mailQueued?.();
  return queued;
}
