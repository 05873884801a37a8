import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StatementDoc, UsageReport } from '@p2pvps/protocol/federation-rental-schemas';
import type { DomainError } from '../domain/errors.ts';
import { statementDifference, type HeldRecords } from './statement-check.ts';
import { checkReportFollows, nextReport, type ReportChain } from './usage-reports.ts';

const held: HeldRecords = {
  reports: [
    { rentalId: 'rentalone1', seq: 1, reportHash: 'h11', amountMicros: 1000n },
    { rentalId: 'rentalone1', seq: 2, reportHash: 'h12', amountMicros: 500n },
    { rentalId: 'rentaltwo2', seq: 1, reportHash: 'h21', amountMicros: 2000n },
  ],
  payments: [{ settlementId: 'settleone1', receiptHash: 'r1', amountMicros: 1200n }],
  previous: { hash: 'prev', closingMicros: 700n },
};

function statement(over: Partial<StatementDoc> = {}): StatementDoc {
  return {
    type: 'p2pvps-statement',
    issuer: 'https://b.example',
    counterparty: 'https://a.example',
    keyId: 'SHA256:x',
    signature: 'sig',
    period: { from: '2026-12-01T00:00:00.000Z', to: '2026-12-02T00:00:00.000Z' },
    previousStatementHash: 'prev',
    currency: 'USD',
    openingMicros: '700',
    lines: held.reports.map((r) => ({ rentalId: r.rentalId, seq: r.seq, reportHash: r.reportHash, amountMicros: String(r.amountMicros) })),
    payments: [{ settlementId: 'settleone1', receiptHash: 'r1', amountMicros: '1200' }],
    closingMicros: String(700 + 1000 + 500 + 2000 - 1200),
    dueAt: '2026-12-09T00:00:00.000Z',
    ...over,
  };
}

test('a statement whose every line is a held report or receipted payment, and whose sum is right, has no difference', () => {
  assert.equal(statementDifference(statement(), held), null);
});

test('a wrong sum is named with the sum the lines make', () => {
  assert.equal(
    statementDifference(statement({ closingMicros: '3201' }), held),
    'its closing 3201 is not opening + lines − payments = 3000',
  );
});

test('the first line that differs is named: amount, hash, unknown, twice; a held report left out is named as missing', () => {
  const lines = statement().lines;
  const change = (i: number, line: Partial<(typeof lines)[number]>) =>
    statement({ lines: lines.map((l, j) => (j === i ? { ...l, ...line } : l)) });
  assert.equal(
    statementDifference(change(1, { amountMicros: '501' }), held),
    'line 2 (rental rentalone1, report 2) says 501; the report acknowledged here says 500',
  );
  assert.match(
    statementDifference(change(0, { reportHash: 'other' }), held)!,
    /^line 1 \(rental rentalone1, report 1\) names report hash other/,
  );
  assert.equal(statementDifference(change(2, { seq: 9 }), held), 'line 3 (rental rentaltwo2, report 9) is not a report acknowledged here');
  assert.equal(
    statementDifference(statement({ lines: [...lines, lines[0]!] }), held),
    'line 4 (rental rentalone1, report 1) appears twice',
  );
  assert.equal(
    statementDifference(statement({ lines: lines.slice(0, 2), closingMicros: '1000' }), held),
    'report 1 of rental rentaltwo2, acknowledged here, is missing',
  );
});

test('the opening must be the last acknowledged statement’s closing, and payments must be receipted', () => {
  assert.match(statementDifference(statement({ openingMicros: '0' }), held)!, /opening 0 is not the previous statement's closing 700/);
  assert.match(statementDifference(statement({ previousStatementHash: null }), held)!, /the last one acknowledged here is prev/);
  assert.equal(
    statementDifference(statement({ payments: [{ settlementId: 'settleone1', receiptHash: 'forged', amountMicros: '1200' }] }), held),
    'payment 1 (settlement settleone1) is not a settlement receipted to this server',
  );
  assert.equal(
    statementDifference(statement({ payments: [], closingMicros: '4200' }), held),
    'settlement settleone1, receipted, is missing',
  );
});

test('usage reports carry running totals: amounts never drift from what the total minutes cost, and each names the one before', () => {
  const price = 10_000n; // 166.66… a minute
  let chain = null as ReportChain | null;
  let paid = 0n;
  for (const [i, minutes] of [1, 1, 1, 4, 0, 7].entries()) {
    const unsigned = nextReport(chain, {
      rentalId: 'rentalone1',
      counterparty: 'https://a.example',
      servedBy: 'https://b.example',
      from: '2026-12-01T00:00:00.000Z',
      to: '2026-12-01T00:10:00.000Z',
      minutes,
      pricePerHourMicros: price,
    });
    const report = { ...unsigned, issuer: 'https://b.example', keyId: 'SHA256:x', signature: 's' } as UsageReport;
    checkReportFollows(chain, report, price);
    assert.equal(report.seq, i + 1);
    assert.equal(report.previousHash, chain?.hash ?? null);
    paid += BigInt(report.amountMicros);
    chain = { seq: report.seq, hash: `hash${i}`, totalMinutes: report.totalMinutes, totalMicros: BigInt(report.totalMicros) };
  }
  // 14 minutes: floor(10,000 × 14 / 60), however they were split.
  assert.equal(paid, 2_333n);
  assert.equal(chain!.totalMicros, 2_333n);
  // A report that repeats the last seq, or names another predecessor, is refused.
  const again = {
    ...nextReport(chain, {
      rentalId: 'rentalone1',
      counterparty: 'x',
      servedBy: 'y',
      from: '2026-12-01T00:00:00.000Z',
      to: '2026-12-01T00:00:00.000Z',
      minutes: 1,
      pricePerHourMicros: price,
    }),
    issuer: 'https://b.example',
    keyId: 'k',
    signature: 's',
  } as UsageReport;
  assert.throws(
    () => checkReportFollows(chain, { ...again, seq: 6 }, price),
    (err: DomainError) => err.code === 'federation_usage_out_of_order',
  );
  assert.throws(
    () => checkReportFollows(chain, { ...again, previousHash: 'hash0' }, price),
    (err: DomainError) => err.code === 'federation_usage_out_of_order',
  );
  assert.throws(
    () => checkReportFollows(chain, { ...again, amountMicros: '999' }, price),
    (err: DomainError) => err.code === 'invalid_request',
  );
});
