import {
  Receipt,
  StatementAck,
  federationSettlementsPath,
  federationStatementsPath,
  type Settlement,
  type StatementDoc,
  type UsageReport,
} from '@p2pvps/protocol/federation-rental-schemas';
import { findPeer, listPeers, updatePeer, type PeerRow } from '../db/federation-repo.ts';
import {
  findSettlement,
  insertSettlement,
  insertStatement,
  lastAcknowledgedStatement,
  lastStatement,
  listAckedPeerUsage,
  listStatements,
  listReceiptedSettlements,
  setReceipt,
  updateStatement,
} from '../db/federation-statements-repo.ts';
import { inTransaction } from '../db/transactions.ts';
import type { DomainContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import { balanceOf, postMany } from '../domain/money/ledger.ts';
import { newId } from '../domain/secrets.ts';
import { describeReply, type FederationClient } from './federation-client.ts';
import { objectHash, objectSignatureValid, signObject, type ObjectSigner } from './signed-objects.ts';
import { statementDifference, type HeldRecords } from './statement-check.ts';

export interface StatementsOptions {
  ctx: DomainContext;
  client: FederationClient;
  signer(): ObjectSigner;
  /** A statement goes to each peer that owes us this often. */
  everyMs: number;
  /** A statement is due this long after its period ends. */
  graceMs: number;
}

const peerKey = (peer: PeerRow) => ({ id: peer.fingerprint, alg: 'ed25519' as const, publicKey: peer.public_key });
const inPeriod = (at: string, from: string, to: string) => at >= from && at < to;

/**
 * The inter-server account (docs/federation.md): the creditor (the device's server) sends a
 * signed statement on a schedule, every line provable; the debtor checks it against what it
 * signed and holds and acknowledges it or refuses it naming the first difference. The
 * debtor records what it paid off-protocol as a signed settlement; the creditor receipts it.
 * A peer owing more than its credit limit is over the limit (its new rentals refused) until
 * a receipt brings it under.
 */
export class Statements {
  constructor(private readonly o: StatementsOptions) {}

  private get ctx(): DomainContext {
    return this.o.ctx;
  }

  private now(): string {
    return this.ctx.clock.now().toISOString();
  }

  /** Reports one side issued to the other and the other acknowledged, with their `to` (what periods go by). */
  private async ackedReports(peer: PeerRow, issuer: string) {
    return (await listAckedPeerUsage(this.ctx.db, peer.id))
      .map((u) => ({ row: u, report: JSON.parse(u.report_json) as UsageReport }))
      .filter((u) => u.report.issuer === issuer);
  }

  /** The statement for a peer that owes us, up to now: built, signed, kept, sent; its state after the peer's answer. */
  async issue(peer: PeerRow): Promise<{ hash: string; state: string; problem: string | null; statement: StatementDoc }> {
    const previous = await lastAcknowledgedStatement(this.ctx.db, peer.id, 'issued');
    const prevDoc = previous ? (JSON.parse(previous.statement_json) as StatementDoc) : null;
    const from = prevDoc?.period.to ?? peer.linked_at;
    const to = this.now();
    const signer = this.o.signer();
    const lines = (await this.ackedReports(peer, signer.url))
      .filter((u) => inPeriod(u.report.to, from, to))
      .map((u) => ({ rentalId: u.row.rental_id, seq: u.row.seq, reportHash: u.row.report_hash, amountMicros: u.report.amountMicros }));
    const payments = (await listReceiptedSettlements(this.ctx.db, peer.id, 'received'))
      .map((s) => ({ s, receipt: JSON.parse(s.receipt_json!) as Receipt }))
      .filter(({ receipt }) => inPeriod(receipt.receivedAt, from, to))
      .map(({ s }) => ({ settlementId: s.settlement_id, receiptHash: s.receipt_hash!, amountMicros: String(s.amount_micros) }));
    const opening = BigInt(prevDoc?.closingMicros ?? '0');
    const closing =
      opening + lines.reduce((sum, l) => sum + BigInt(l.amountMicros), 0n) - payments.reduce((sum, p) => sum + BigInt(p.amountMicros), 0n);
    const statement = signObject(
      {
        type: 'p2pvps-statement' as const,
        counterparty: peer.url,
        period: { from, to },
        previousStatementHash: previous?.hash ?? null,
        currency: this.ctx.settings.currency,
        openingMicros: String(opening),
        lines,
        payments,
        closingMicros: String(closing),
        dueAt: new Date(Date.parse(to) + this.o.graceMs).toISOString(),
      },
      signer,
    );
    const hash = objectHash(statement);
    await insertStatement(this.ctx.db, {
      hash,
      peer_id: peer.id,
      direction: 'issued',
      statement_json: JSON.stringify(statement),
      closing_micros: closing,
      period_to: to,
      state: 'sent',
      ack_json: null,
      problem: null,
      created_at: to,
    });
    return { hash, statement, ...(await this.deliver(peer, hash, statement)) };
  }

  private async deliver(peer: PeerRow, hash: string, statement: StatementDoc): Promise<{ state: string; problem: string | null }> {
    const reply = await this.o.client.request(peer.url, 'POST', federationStatementsPath, statement).catch(() => null);
    if (!reply) return { state: 'sent', problem: null };
    const ack = StatementAck.safeParse(reply.body);
    if (
      reply.status === 200 &&
      ack.success &&
      ack.data.statementHash === hash &&
      objectSignatureValid(reply.body as Record<string, unknown>, { url: peer.url, key: peerKey(peer) })
    ) {
      await updateStatement(this.ctx.db, hash, { state: 'acknowledged', ack_json: JSON.stringify(reply.body) });
      return { state: 'acknowledged', problem: null };
    }
    const problem = describeReply(reply);
    await updateStatement(this.ctx.db, hash, { state: 'refused', problem });
    return { state: 'refused', problem };
  }

  /** A statement from a peer we owe: checked line by line against what we hold; acknowledged signed, or refused naming the first difference. */
  async receive(peer: PeerRow, raw: Record<string, unknown>, doc: StatementDoc): Promise<StatementAck> {
    if (!objectSignatureValid(raw, { url: peer.url, key: peerKey(peer) }))
      throw new DomainError('federation_bad_signature', `The statement is not signed by ${peer.url}'s key ${peer.fingerprint}.`);
    const own = this.o.signer().url;
    if (doc.counterparty !== own || doc.currency !== this.ctx.settings.currency)
      throw new DomainError(
        'federation_statement_mismatch',
        `The statement is addressed to ${doc.counterparty} in ${doc.currency}, not to ${own} in ${this.ctx.settings.currency}.`,
      );
    const hash = objectHash(raw);
    const previous = await lastAcknowledgedStatement(this.ctx.db, peer.id, 'received');
    const held: HeldRecords = {
      reports: (await this.ackedReports(peer, peer.url))
        .filter((u) => inPeriod(u.report.to, doc.period.from, doc.period.to))
        .map((u) => ({
          rentalId: u.row.rental_id,
          seq: u.row.seq,
          reportHash: u.row.report_hash,
          amountMicros: BigInt(u.report.amountMicros),
        })),
      payments: (await listReceiptedSettlements(this.ctx.db, peer.id, 'sent'))
        .map((s) => ({ s, receipt: JSON.parse(s.receipt_json!) as Receipt }))
        .filter(({ receipt }) => inPeriod(receipt.receivedAt, doc.period.from, doc.period.to))
        .map(({ s }) => ({ settlementId: s.settlement_id, receiptHash: s.receipt_hash!, amountMicros: BigInt(s.amount_micros) })),
      previous: previous ? { hash: previous.hash, closingMicros: BigInt(previous.closing_micros) } : null,
    };
    const difference = statementDifference(doc, held);
    const row = {
      hash,
      peer_id: peer.id,
      direction: 'received' as const,
      statement_json: JSON.stringify(raw),
      closing_micros: BigInt(doc.closingMicros),
      period_to: doc.period.to,
      created_at: this.now(),
    };
    if (difference) {
      // Kept, so our operator sees what was refused and why.
      await insertStatement(this.ctx.db, { ...row, state: 'refused', ack_json: null, problem: difference });
      throw new DomainError('federation_statement_mismatch', `The statement from ${peer.url} is refused: ${difference}.`);
    }
    const ack = signObject(
      { type: 'p2pvps-statement-ack' as const, statementHash: hash, closingMicros: doc.closingMicros },
      this.o.signer(),
    );
    await insertStatement(this.ctx.db, { ...row, state: 'acknowledged', ack_json: JSON.stringify(ack), problem: null });
    return ack;
  }

  /** We paid a peer off-protocol: the signed settlement goes to it, and its receipt comes back and is posted. */
  async settle(
    peerId: string,
    amountMicros: bigint,
    reference: string,
    rail = 'manual',
  ): Promise<{ settlementId: string; receipted: boolean; problem: string | null }> {
    const peer = await findPeer(this.ctx.db, peerId);
    if (!peer) throw new DomainError('not_found');
    const last = await lastAcknowledgedStatement(this.ctx.db, peer.id, 'received');
    const settlement = signObject(
      {
        type: 'p2pvps-settlement' as const,
        counterparty: peer.url,
        settlementId: newId(),
        amountMicros: String(amountMicros),
        rail,
        reference,
        statementHash: last?.hash ?? null,
      },
      this.o.signer(),
    );
    await insertSettlement(this.ctx.db, {
      settlement_id: settlement.settlementId,
      peer_id: peer.id,
      direction: 'sent',
      settlement_json: JSON.stringify(settlement),
      amount_micros: amountMicros,
      receipt_json: null,
      receipt_hash: null,
      created_at: this.now(),
    });
    const reply = await this.o.client.request(peer.url, 'POST', federationSettlementsPath, settlement).catch(() => null);
    const receipt = reply?.status === 200 ? Receipt.safeParse(reply.body) : null;
    if (
      !receipt?.success ||
      receipt.data.settlementId !== settlement.settlementId ||
      !objectSignatureValid(reply!.body as Record<string, unknown>, { url: peer.url, key: peerKey(peer) })
    )
      return {
        settlementId: settlement.settlementId,
        receipted: false,
        problem: reply ? describeReply(reply) : `${peer.url} did not answer`,
      };
    await inTransaction(this.ctx.db, async (trx) => {
      await setReceipt(trx, settlement.settlementId, JSON.stringify(reply!.body), objectHash(reply!.body as object));
      // What we owed the peer goes down by what left through the rail.
      await postMany(trx, [settlementPosting(peer, settlement.settlementId, amountMicros, 1n, receipt.data.receivedAt, reference)]);
    });
    return { settlementId: settlement.settlementId, receipted: true, problem: null };
  }

  /** A peer that owes us says it paid: kept, receipted signed and posted once (a repeated settlement gets the same receipt). */
  async receiveSettlement(peer: PeerRow, raw: Record<string, unknown>, s: Settlement): Promise<Receipt> {
    if (!objectSignatureValid(raw, { url: peer.url, key: peerKey(peer) }))
      throw new DomainError('federation_bad_signature', `The settlement is not signed by ${peer.url}'s key ${peer.fingerprint}.`);
    const existing = await findSettlement(this.ctx.db, s.settlementId);
    if (existing?.receipt_json && existing.peer_id === peer.id) return JSON.parse(existing.receipt_json) as Receipt;
    if (existing) throw new DomainError('invalid_request', `Settlement ${s.settlementId} is already known.`);
    const receivedAt = this.now();
    const receipt = signObject(
      { type: 'p2pvps-receipt' as const, settlementId: s.settlementId, amountMicros: s.amountMicros, receivedAt },
      this.o.signer(),
    );
    await inTransaction(this.ctx.db, async (trx) => {
      await insertSettlement(trx, {
        settlement_id: s.settlementId,
        peer_id: peer.id,
        direction: 'received',
        settlement_json: JSON.stringify(raw),
        amount_micros: BigInt(s.amountMicros),
        receipt_json: JSON.stringify(receipt),
        receipt_hash: objectHash(receipt),
        created_at: receivedAt,
      });
      await postMany(trx, [settlementPosting(peer, s.settlementId, BigInt(s.amountMicros), -1n, receivedAt, s.reference)]);
    });
    await this.enforceLimit((await findPeer(this.ctx.db, peer.id))!);
    return receipt;
  }

  /** The statements exchanged with a peer, newest first, for its operator. */
  async list(peerId: string) {
    if (!(await findPeer(this.ctx.db, peerId))) throw new DomainError('not_found');
    return (await listStatements(this.ctx.db, peerId)).map((r) => ({
      hash: r.hash,
      direction: r.direction,
      state: r.state,
      periodTo: r.period_to,
      closingMicros: Number(r.closing_micros),
      problem: r.problem,
      createdAt: r.created_at,
    }));
  }

  /** Sets what a peer may owe us at most (null: no limit), and applies it at once. */
  async setLimit(peerId: string, limitMicros: bigint | null): Promise<void> {
    const peer = await findPeer(this.ctx.db, peerId);
    if (!peer) throw new DomainError('not_found');
    await updatePeer(this.ctx.db, peer.id, { credit_limit_micros: limitMicros });
    await this.enforceLimit({ ...peer, credit_limit_micros: limitMicros });
  }

  /** Marks the peer over its limit when it owes more, and back when it does not. */
  async enforceLimit(peer: PeerRow): Promise<void> {
    const owed = -(await balanceOf(this.ctx.db, { kind: 'peer_account', peerId: peer.id }));
    const over = peer.credit_limit_micros !== null && peer.credit_limit_micros !== undefined && owed > BigInt(peer.credit_limit_micros);
    if (over && !peer.over_limit_at) await updatePeer(this.ctx.db, peer.id, { over_limit_at: this.now() });
    if (!over && peer.over_limit_at) await updatePeer(this.ctx.db, peer.id, { over_limit_at: null });
  }

  /** The schedule: limits checked, and a statement to each active peer that owes us when the last is older than the interval. */
  async tick(): Promise<void> {
    const now = this.ctx.clock.now().getTime();
    for (const peer of await listPeers(this.ctx.db)) {
      if (peer.state !== 'active') continue;
      await this.enforceLimit(peer);
      const last = await lastStatement(this.ctx.db, peer.id, 'issued');
      if (last && now - Date.parse(last.created_at) < this.o.everyMs) continue;
      if (!last && now - Date.parse(peer.linked_at) < this.o.everyMs) continue;
      if ((await this.ackedReports(peer, this.o.signer().url)).length === 0) continue;
      await this.issue(peer);
    }
  }
}

/** A settlement in one ledger: the peer account moves by the amount, against the money that moved through the rail. `sign` 1 where we paid, −1 where we were paid. */
function settlementPosting(peer: PeerRow, settlementId: string, amount: bigint, sign: bigint, at: string, reference: string) {
  return {
    kind: 'federation_settlement' as const,
    memo: `settlement ${settlementId} with ${peer.url} (${reference})`,
    at,
    externalKey: `fed:settlement:${settlementId}`,
    postings: [
      { kind: 'peer_account' as const, peerId: peer.id, amount: -sign * amount },
      { kind: 'rail_clearing' as const, rail: 'federation', amount: sign * amount },
    ],
  };
}
