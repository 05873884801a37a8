import type { UsageReport } from '@p2pvps/protocol/federation-rental-schemas';
import { DomainError } from '../domain/errors.ts';
import type { PostOptions } from '../domain/money/ledger.ts';
import { chargeForMinutes, feeOf } from '../domain/money/money.ts';

/**
 * Usage reports (docs/federation.md): the device's server (B) reports the minutes it served
 * with running totals and the hash of the report before, so a lost or repeated report does
 * no harm and a missing one is visible; both ledgers post each report once, under the
 * external key `fed:usage:RENTAL:SEQ`.
 */

/** What the renter's server knows of the last report it took for a rental. */
export interface ReportChain {
  seq: number;
  hash: string;
  totalMinutes: number;
  totalMicros: bigint;
}

export type UnsignedReport = Omit<UsageReport, 'issuer' | 'keyId' | 'signature'>;

/** The next report of a rental after `previous`: `minutes` more from `from` to `to`, its amount the running total's growth. */
export function nextReport(
  previous: ReportChain | null,
  r: { rentalId: string; counterparty: string; servedBy: string; from: string; to: string; minutes: number; pricePerHourMicros: bigint },
): UnsignedReport {
  const totalMinutes = (previous?.totalMinutes ?? 0) + r.minutes;
  const totalMicros = chargeForMinutes(r.pricePerHourMicros, BigInt(totalMinutes));
  return {
    type: 'p2pvps-usage',
    counterparty: r.counterparty,
    rentalId: r.rentalId,
    seq: (previous?.seq ?? 0) + 1,
    servedBy: r.servedBy,
    from: r.from,
    to: r.to,
    minutes: r.minutes,
    amountMicros: String(totalMicros - (previous?.totalMicros ?? 0n)),
    totalMinutes,
    totalMicros: String(totalMicros),
    previousHash: previous?.hash ?? null,
  };
}

/**
 * Checks that `report` follows `previous` in its rental's chain, at the price agreed: the
 * next seq, naming the last report's hash, totals that add up, and an amount that is exactly
 * what the minutes cost. Throws the refusal; the renter's server takes nothing else.
 */
export function checkReportFollows(previous: ReportChain | null, report: UsageReport, pricePerHourMicros: bigint): void {
  const expectedSeq = (previous?.seq ?? 0) + 1;
  if (report.seq !== expectedSeq || report.previousHash !== (previous?.hash ?? null)) {
    throw new DomainError(
      'federation_usage_out_of_order',
      `Report ${report.seq} of rental ${report.rentalId} does not follow the last one taken (seq ${previous?.seq ?? 0}); send report ${expectedSeq}, naming its predecessor's hash.`,
    );
  }
  const totalMinutes = (previous?.totalMinutes ?? 0) + report.minutes;
  const totalMicros = chargeForMinutes(pricePerHourMicros, BigInt(totalMinutes));
  const amount = totalMicros - (previous?.totalMicros ?? 0n);
  if (report.totalMinutes !== totalMinutes || BigInt(report.totalMicros) !== totalMicros || BigInt(report.amountMicros) !== amount) {
    throw new DomainError(
      'invalid_request',
      `Report ${report.seq} of rental ${report.rentalId} does not add up: ${totalMinutes} min at the agreed price come to ${totalMicros} in total, ${amount} in this report.`,
    );
  }
  if (Date.parse(report.to) < Date.parse(report.from)) throw new DomainError('invalid_request', 'A report ends before it starts.');
}

/**
 * How many of the whole minutes between `from` and `to` (ISO times) are already covered by
 * `spans`, each counting at most its own minutes, its overlap rounded to the nearest minute
 * (a few milliseconds of overlap where a device left one server for another are not a
 * minute): used so that a stretch a backup served and a stretch we billed ourselves are
 * never both charged.
 */
export function coveredMinutes(spans: { from: string; to: string; minutes: number }[], from: string | number, to: string | number): number {
  const start = typeof from === 'number' ? from : Date.parse(from);
  const end = typeof to === 'number' ? to : Date.parse(to);
  let covered = 0;
  for (const s of spans) {
    const overlapMs = Math.min(end, Date.parse(s.to)) - Math.max(start, Date.parse(s.from));
    if (overlapMs > 0) covered += Math.min(s.minutes, Math.round(overlapMs / 60_000));
  }
  return covered;
}

export const usageKey = (rentalId: string, seq: number) => `fed:usage:${rentalId}:${seq}`;

/**
 * At the renter's server (A): the renter pays the minutes plus A's fee; A owes B the
 * minutes. A's fee is taken from running totals, so rounding never accumulates.
 */
export function renterServerPosting(
  r: { localRentalId: string; renterId: string; peerId: string; deviceName: string; feeBps: number },
  report: UsageReport,
  previousTotalMicros: bigint,
  at: string,
): PostOptions {
  const amount = BigInt(report.amountMicros);
  const fee = feeOf(BigInt(report.totalMicros), BigInt(r.feeBps)) - feeOf(previousTotalMicros, BigInt(r.feeBps));
  return {
    kind: 'federation_usage',
    memo: `${report.minutes} min of ${r.deviceName} (report ${report.seq} of ${report.issuer})`,
    at,
    rentalId: r.localRentalId,
    externalKey: usageKey(report.rentalId, report.seq),
    postings: [
      { kind: 'renter_balance', userId: r.renterId, amount: -(amount + fee) },
      { kind: 'marketplace_fees', amount: fee },
      { kind: 'peer_account', peerId: r.peerId, amount },
    ],
  };
}

/** At the device's server (B): the owner earns the minutes less B's fee, against what the peer owes. */
export function homeServerPosting(
  r: { rentalId: string; ownerId: string; peerId: string; deviceName: string },
  report: UnsignedReport,
  feeNow: bigint,
  at: string,
): PostOptions {
  const amount = BigInt(report.amountMicros);
  return {
    kind: 'federation_usage',
    memo: `${report.minutes} min of ${r.deviceName} for ${report.counterparty} (report ${report.seq})`,
    at,
    rentalId: r.rentalId,
    externalKey: usageKey(report.rentalId, report.seq),
    postings: [
      { kind: 'owner_earnings', userId: r.ownerId, amount: amount - feeNow },
      { kind: 'marketplace_fees', amount: feeNow },
      { kind: 'peer_account', peerId: r.peerId, amount: -amount },
    ],
  };
}
