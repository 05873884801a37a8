import type { StatementDoc } from '@p2pvps/protocol/federation-rental-schemas';

/** What the debtor holds, to check a statement against: reports it acknowledged, settlements receipted, the last statement it acknowledged. */
export interface HeldRecords {
  reports: { rentalId: string; seq: number; reportHash: string; amountMicros: bigint }[];
  payments: { settlementId: string; receiptHash: string; amountMicros: bigint }[];
  previous: { hash: string; closingMicros: bigint } | null;
}

/**
 * The first difference between a statement and what the debtor holds, in words for both
 * operators, or null when every line is proven: each usage line is a report the debtor
 * acknowledged (same hash and amount), none it acknowledged in the period is missing, each
 * payment is a settlement it holds a receipt for, the opening is the previous statement's
 * closing, and opening + lines − payments = closing.
 */
export function statementDifference(doc: StatementDoc, held: HeldRecords): string | null {
  if (doc.previousStatementHash !== (held.previous?.hash ?? null))
    return `it follows statement ${doc.previousStatementHash ?? 'none'}, but the last one acknowledged here is ${held.previous?.hash ?? 'none'}`;
  const opening = held.previous?.closingMicros ?? 0n;
  if (BigInt(doc.openingMicros) !== opening) return `its opening ${doc.openingMicros} is not the previous statement's closing ${opening}`;

  const reports = new Map(held.reports.map((r) => [`${r.rentalId}:${r.seq}`, r]));
  const seen = new Set<string>();
  let sum = opening;
  for (const [i, line] of doc.lines.entries()) {
    const key = `${line.rentalId}:${line.seq}`;
    const mine = reports.get(key);
    const where = `line ${i + 1} (rental ${line.rentalId}, report ${line.seq})`;
    if (seen.has(key)) return `${where} appears twice`;
    seen.add(key);
    if (!mine) return `${where} is not a report acknowledged here`;
    if (mine.reportHash !== line.reportHash)
      return `${where} names report hash ${line.reportHash}; the report acknowledged here is ${mine.reportHash}`;
    if (mine.amountMicros !== BigInt(line.amountMicros))
      return `${where} says ${line.amountMicros}; the report acknowledged here says ${mine.amountMicros}`;
    sum += BigInt(line.amountMicros);
  }
  for (const r of held.reports)
    if (!seen.has(`${r.rentalId}:${r.seq}`)) return `report ${r.seq} of rental ${r.rentalId}, acknowledged here, is missing`;

  const payments = new Map(held.payments.map((p) => [p.settlementId, p]));
  const paid = new Set<string>();
  for (const [i, p] of doc.payments.entries()) {
    const mine = payments.get(p.settlementId);
    const where = `payment ${i + 1} (settlement ${p.settlementId})`;
    if (paid.has(p.settlementId)) return `${where} appears twice`;
    paid.add(p.settlementId);
    if (!mine || mine.receiptHash !== p.receiptHash) return `${where} is not a settlement receipted to this server`;
    if (mine.amountMicros !== BigInt(p.amountMicros)) return `${where} says ${p.amountMicros}; the receipt says ${mine.amountMicros}`;
    sum -= BigInt(p.amountMicros);
  }
  for (const p of held.payments) if (!paid.has(p.settlementId)) return `settlement ${p.settlementId}, receipted, is missing`;

  if (BigInt(doc.closingMicros) !== sum) return `its closing ${doc.closingMicros} is not opening + lines − payments = ${sum}`;
  return null;
}
