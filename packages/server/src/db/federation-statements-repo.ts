import type { Db } from './database.ts';
import type { FederationSettlementsTable, FederationStatementsTable, FederationUsageTable } from './schema.ts';

/** Statements and settlements between peers (docs/federation.md, "The inter-server account and statements"). */

export type StatementRow = FederationStatementsTable;
export type SettlementRow = FederationSettlementsTable;

export function insertStatement(db: Db, row: StatementRow): Promise<unknown> {
  return db
    .insertInto('federation_statements')
    .values(row)
    .onConflict((oc) => oc.column('hash').doNothing())
    .execute();
}

export async function updateStatement(
  db: Db,
  hash: string,
  set: Partial<Pick<StatementRow, 'state' | 'ack_json' | 'problem'>>,
): Promise<void> {
  await db.updateTable('federation_statements').set(set).where('hash', '=', hash).execute();
}

/** The last statement acknowledged between us and a peer in this direction: the next one opens where it closed. */
export function lastAcknowledgedStatement(db: Db, peerId: string, direction: StatementRow['direction']): Promise<StatementRow | undefined> {
  return db
    .selectFrom('federation_statements')
    .selectAll()
    .where('peer_id', '=', peerId)
    .where('direction', '=', direction)
    .where('state', '=', 'acknowledged')
    .orderBy('period_to', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export function listStatements(db: Db, peerId: string): Promise<StatementRow[]> {
  return db
    .selectFrom('federation_statements')
    .selectAll()
    .where('peer_id', '=', peerId)
    .orderBy('created_at', 'desc')
    .limit(100)
    .execute();
}

export function insertSettlement(db: Db, row: SettlementRow): Promise<unknown> {
  return db.insertInto('federation_settlements').values(row).execute();
}

export function findSettlement(db: Db, settlementId: string): Promise<SettlementRow | undefined> {
  return db.selectFrom('federation_settlements').selectAll().where('settlement_id', '=', settlementId).executeTakeFirst();
}

export async function setReceipt(db: Db, settlementId: string, receiptJson: string, receiptHash: string): Promise<void> {
  await db
    .updateTable('federation_settlements')
    .set({ receipt_json: receiptJson, receipt_hash: receiptHash })
    .where('settlement_id', '=', settlementId)
    .execute();
}

/** A peer's receipted settlements in this direction. */
export function listReceiptedSettlements(db: Db, peerId: string, direction: SettlementRow['direction']): Promise<SettlementRow[]> {
  return db
    .selectFrom('federation_settlements')
    .selectAll()
    .where('peer_id', '=', peerId)
    .where('direction', '=', direction)
    .where('receipt_json', 'is not', null)
    .orderBy('created_at')
    .execute();
}

/** Every acknowledged usage report of a peer's rentals (either side's), in order. */
export function listAckedPeerUsage(db: Db, peerId: string): Promise<FederationUsageTable[]> {
  return db
    .selectFrom('federation_usage')
    .selectAll()
    .where('peer_id', '=', peerId)
    .where('ack_json', 'is not', null)
    .orderBy('rental_id')
    .orderBy('seq')
    .execute();
}

/** The latest statement in this direction with a peer, whatever became of it: statements go out on a schedule. */
export function lastStatement(db: Db, peerId: string, direction: StatementRow['direction']): Promise<StatementRow | undefined> {
  return db
    .selectFrom('federation_statements')
    .selectAll()
    .where('peer_id', '=', peerId)
    .where('direction', '=', direction)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}
