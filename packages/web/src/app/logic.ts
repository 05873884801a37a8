import { formatMoney } from '@p2pvps/protocol/money';
import type { HardwareVerification } from '@p2pvps/protocol/benchmark';
import { maintenanceRules } from '@p2pvps/protocol/reliability-schemas';
import type { Device, Offer, Rental } from '@p2pvps/protocol/schemas';

/**
 * The dashboard's rules that are not just showing data, kept apart from the views so they
 * can be tested without a browser.
 */

export const hoursPerMonth = 730;

/** What renting costs, said before the renter confirms. `hours` undefined: until stopped. */
export function rentCostText(pricePerHourMicros: number, currency: string, hours: number | undefined, minimumHours: number): string {
  if (hours === undefined) {
    return (
      `${formatMoney(pricePerHourMicros, currency)} an hour, billed per minute while the device is up, until you stop it. ` +
      `Your balance must cover at least ${minimumHours} h (${formatMoney(pricePerHourMicros * minimumHours, currency)}).`
    );
  }
  return (
    `${formatMoney(pricePerHourMicros * hours, currency)} for ${hours} h, held from your balance now. ` +
    `Unused time comes back if the device is lost; stopping early forfeits the rest of the term.`
  );
}

/** How a device looks to its owner, in words: online / in marketplace / rented / offline since … */
export function deviceStatusText(
  device: Pick<
    Device,
    'status' | 'listed' | 'online' | 'lastSeenAt' | 'storageFault' | 'onMarket' | 'pricePerHourMicros' | 'hardwareFlag' | 'storageLocked'
  >,
  now: Date,
): string {
  if (device.status === 'awaiting_enrolment') return 'waiting for its agent to enrol';
  if (device.storageFault) return `not listed: ${device.storageFault}`;
  if (device.hardwareFlag) return `not listed: ${device.hardwareFlag}`;
  if (!device.online) return device.lastSeenAt ? `offline since ${sinceText(device.lastSeenAt, now)}` : 'offline';
  // Its renter's encrypted storage after a restart: nothing the owner can do but wait for them.
  if (device.status === 'rented' && device.storageLocked) return 'rented, locked: waiting for its renter’s secret';
  if (device.status === 'rented') return 'rented';
  if (device.listed) return 'online, in the marketplace';
  if (device.pricePerHourMicros === null) return 'online, not listed: set a price';
  if (!device.onMarket) return 'online, not listed: off the market';
  return 'online';
}

/** "5 min ago", "3 h ago", "2 d ago" — or the date when longer. */
export function sinceText(iso: string, now: Date): string {
  const ms = now.getTime() - new Date(iso).getTime();
  if (ms < 60_000) return 'just now';
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`;
  if (ms < 7 * 86_400_000) return `${Math.floor(ms / 86_400_000)} d ago`;
  return new Date(iso).toISOString().slice(0, 10);
}

/** A rental's live status for its renter: up (container reachable) or down, and why. */
export function rentalStatusText(rental: Pick<Rental, 'state' | 'endReason'>, deviceOnline: boolean | undefined): string {
  if (rental.state === 'requested') return 'starting: the device is preparing your container';
  if (rental.state === 'active') return deviceOnline === false ? 'down: the device is offline (billing paused)' : 'up';
  if (rental.state === 'ending') return 'ending: the device is wiping the container';
  return `ended${rental.endReason ? ` (${rental.endReason.replaceAll('_', ' ')})` : ''}`;
}

/** The device-config.json an owner copies to the device. */
export function deviceConfigJson(serverUrl: string, enrolmentToken: string): string {
  return JSON.stringify({ serverUrl, enrolmentToken, dataDir: '/var/lib/p2pvps-agent' }, null, 2);
}

/**
 * The commands an owner runs (as root) on a device where the agent is installed: the token
 * goes in a file, never on the command line, where ps shows it to every user.
 */
export function enrolCommands(serverUrl: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `p2pvps agent init --server ${q(serverUrl)} --token-file FILE\np2pvps agent`;
}

/** Bytes the way people read sizes: GiB with one decimal, or MiB below one GiB. */
export function formatBytes(bytes: number): string {
  const gib = 2 ** 30;
  return bytes >= gib ? `${(bytes / gib).toFixed(1).replace(/\.0$/, '')} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
}

/** What the server's benchmark measured, beside the claims, in one line. */
export function verifiedText(v: HardwareVerification | null | undefined): string {
  if (!v) return 'not verified yet';
  const short = (ok: boolean) => (ok ? '' : ' (short of the claim)');
  const parts = [
    `${v.cores.measured} of ${v.cores.claimed} cores${short(v.cores.ok)}`,
    `${formatBytes(v.memoryBytes.measured ?? 0)} memory used${short(v.memoryBytes.ok)}`,
    `${formatBytes(v.diskBytes.measured ?? 0)} disk${short(v.diskBytes.ok)}`,
  ];
  if (v.tunnelMbit !== null) parts.push(`${v.tunnelMbit} Mbit/s through the tunnel${short(v.bandwidthMbit.ok)}`);
  return `${parts.join(', ')}; measured ${v.measuredAt.slice(0, 10)}`;
}

/** A device's hardware in one line. */
export function hardwareText(h: { cpuModel: string; cores: number; memoryBytes: number; diskBytes: number; arch: string }): string {
  return `${h.cpuModel}, ${h.cores} cores, ${formatBytes(h.memoryBytes)} memory, ${formatBytes(h.diskBytes)} disk (${h.arch})`;
}

/** Uptime as the marketplace shows it; a device younger than a day has no figure yet. */
export function uptimeText(percent: number | null): string {
  return percent === null ? 'new: less than a day of history' : `${percent}% since it was enrolled`;
}

/** The reliability score as the marketplace and the device page show it (docs/reliability.md). */
export function reliabilityText(percent: number | null): string {
  return percent === null ? 'new: too little history to score yet' : `${percent}% over the last 30 days`;
}

/**
 * The 30-day chart: one bar per day, as high as the day's score; a day the device was not
 * on the market nor rented has no bar (it counts neither way), and a day with a failed
 * start or a lost rental says so in its label.
 */
export function reliabilityBars(
  days: readonly { day: string; percent: number | null; failedStarts: number; lostRentals: number; expectedMs: number; onlineMs: number }[],
): { day: string; height: number; label: string }[] {
  return days.map((d) => {
    const incidents = [
      d.failedStarts > 0 ? `${d.failedStarts} failed start${d.failedStarts === 1 ? '' : 's'}` : '',
      d.lostRentals > 0 ? `${d.lostRentals} lost rental${d.lostRentals === 1 ? '' : 's'}` : '',
    ].filter(Boolean);
    if (d.percent === null)
      return { day: d.day, height: 0, label: `${d.day}: not on the market${incidents.length ? `, ${incidents.join(', ')}` : ''}` };
    const hours = (ms: number) => `${Math.round((ms / 3_600_000) * 10) / 10} h`;
    return {
      day: d.day,
      height: d.percent,
      label: `${d.day}: ${d.percent}%, online ${hours(d.onlineMs)} of ${hours(d.expectedMs)}${incidents.length ? `, ${incidents.join(', ')}` : ''}`,
    };
  });
}

/** `★★★★☆`: the stars a rating gave. */
export function starsText(stars: number): string {
  return '★'.repeat(stars) + '☆'.repeat(5 - stars);
}

/** A device's ratings as the marketplace shows them. */
export function ratingSummaryText(rating: { count: number; average: number | null }): string {
  if (rating.average === null) return 'no ratings yet';
  return `${rating.average.toFixed(1)} of 5 (${rating.count} rating${rating.count === 1 ? '' : 's'})`;
}

/** How long after its end a rental can still be disputed (the server's rule; it refuses later ones). */
export const disputeWindowMs = 14 * 24 * 3_600_000;

/**
 * What the renter can still say about a rental: rate it once it has ended, if its container
 * ran and it cost something (the server's rules), and dispute it while it runs or up to 14
 * days after it ended. `rated`/`disputed`: they already did.
 */
export function feedbackChoices(
  rental: Pick<Rental, 'state' | 'endReason' | 'activatedAt' | 'endedAt' | 'costMicros'>,
  done: { rated: boolean; disputed: boolean },
  now: Date,
): { canRate: boolean; canDispute: boolean } {
  const over = rental.endReason !== null;
  const canRate = !done.rated && over && rental.activatedAt !== null && rental.costMicros > 0;
  const canDispute = !done.disputed && (rental.endedAt === null || now.getTime() - Date.parse(rental.endedAt) <= disputeWindowMs);
  return { canRate, canDispute };
}

/** A dispute's outcome in words, for its renter. */
export function disputeOutcomeText(d: { state: 'open' | 'refunded' | 'rejected'; refundMicros: number; currency: string }): string {
  if (d.state === 'open') return 'open: the operator has not decided yet';
  if (d.state === 'refunded') return `refunded ${formatMoney(d.refundMicros, d.currency)} to your balance`;
  return 'not upheld: no refund';
}

/** What one rental gets, in one line: "1 core, 512 MiB memory, 4 GiB disk, 20 Mbit/s each way". */
export function offerText(o: Pick<Offer, 'cores' | 'memoryBytes' | 'diskBytes'> & { bandwidthMbit?: number | null | undefined }): string {
  const bandwidth = o.bandwidthMbit ? `${o.bandwidthMbit} Mbit/s each way` : 'no bandwidth cap';
  return `${o.cores} ${o.cores === 1 ? 'core' : 'cores'}, ${formatBytes(o.memoryBytes)} memory, ${formatBytes(o.diskBytes)} disk, ${bandwidth}`;
}

/**
 * What a rental's / (the system: what root installs, logs) gets beside its disk, which is
 * its /home: the room the device caps it at, or that it shares the device's disk.
 */
export function systemDiskText(bytes: number | null): string {
  return bytes === null ? "not capped: shares the device's disk" : `${formatBytes(bytes)} beside the disk`;
}

/** The offer form's fields as the owner types them: memory in MiB, disk in GiB, bandwidth in Mbit/s (empty: none). */
export interface OfferForm {
  cores: string;
  memoryMiB: string;
  diskGiB: string;
  bandwidthMbit: string;
}

export function offerForm(o: Offer): OfferForm {
  return {
    cores: String(o.cores),
    memoryMiB: String(Math.round(o.memoryBytes / 2 ** 20)),
    diskGiB: String(Math.round((o.diskBytes / 2 ** 30) * 100) / 100),
    bandwidthMbit: o.bandwidthMbit === null ? '' : String(o.bandwidthMbit),
  };
}

/**
 * The form as an offer for the API, or an error whose `fields` name the boxes to fix (keyed
 * as the API keys them, so the same place shows the server's refusals).
 */
export function offerFromForm(f: OfferForm): Offer {
  const fields: Record<string, string> = {};
  const number = (text: string, key: keyof Offer, what: string, whole: boolean): number => {
    const n = Number(text.trim());
    if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || (whole && !Number.isInteger(n))) fields[`body.offer.${key}`] = what;
    return n;
  };
  const offer: Offer = {
    cores: number(f.cores, 'cores', 'must be a whole number of cores', true),
    memoryBytes: Math.round(number(f.memoryMiB, 'memoryBytes', 'must be a number of MiB, like 512', false) * 2 ** 20),
    // Whole MiB: the device makes the renter's filesystem in whole blocks.
    diskBytes: Math.round(number(f.diskGiB, 'diskBytes', 'must be a number of GiB, like 4 or 0.5', false) * 1024) * 2 ** 20,
    bandwidthMbit:
      f.bandwidthMbit.trim() === '' ? null : number(f.bandwidthMbit, 'bandwidthMbit', 'must be a rate in Mbit/s, or empty for none', false),
  };
  if (Object.keys(fields).length)
    throw Object.assign(new Error('Some of what a rental gets is not a number; see the boxes marked.'), { fields });
  return offer;
}

/** The maintenance form as the owner types it: the start in UTC (a datetime-local box) and its length in hours. */
export interface MaintenanceForm {
  startsAt: string;
  hours: string;
}

/**
 * The form as the API's body, or an error whose `fields` name the boxes to fix, in the CLI's
 * words. The box has no zone: the dashboard shows times in UTC, so it is read as UTC too.
 * The server's own rules (1 h ahead, no overlap, no rental then) come back as its refusal.
 */
export function maintenanceFromForm(f: MaintenanceForm): { startsAt: string; minutes: number } {
  const fields: Record<string, string> = {};
  const at = new Date(`${f.startsAt.trim()}Z`);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(f.startsAt.trim()) || Number.isNaN(at.getTime()))
    fields['body.startsAt'] = 'must be a date and time, like 2026-03-02 14:00';
  const hours = f.hours.trim();
  const minutes = Math.round(Number(hours) * 60);
  if (!/^\d+(\.\d+)?$/.test(hours) || minutes < maintenanceRules.minDurationMinutes || minutes > maintenanceRules.maxDurationMinutes)
    fields['body.minutes'] = 'must be from 0.25 to 8, like 2 or 0.5';
  if (Object.keys(fields).length) throw Object.assign(new Error('The window is not complete; see the boxes marked.'), { fields });
  return { startsAt: at.toISOString(), minutes };
}
