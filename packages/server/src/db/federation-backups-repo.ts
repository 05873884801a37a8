import type { Db } from './database.ts';
import type {
  FederationBackupAgreementsTable,
  FederationBackupDevicesTable,
  FederationBackupHandbacksTable,
  FederationBackupHomesTable,
  FederationBackupServiceTable,
} from './schema.ts';
import { inTransaction } from './transactions.ts';

export type BackupHomeRow = FederationBackupHomesTable;
export type BackupDeviceRow = FederationBackupDevicesTable;
export type BackupServiceRow = FederationBackupServiceTable;
export type BackupAgreementRow = FederationBackupAgreementsTable;
export type BackupHandbackRow = FederationBackupHandbacksTable;

// ---- on the backup server (C) ----

export async function grantBackup(db: Db, row: BackupHomeRow): Promise<void> {
  await db
    .insertInto('federation_backup_homes')
    .values(row)
    .onConflict((oc) => oc.column('peer_id').doUpdateSet({ max_devices: row.max_devices, fee_bps: row.fee_bps }))
    .execute();
}

/** Stops backing a peer up: its grant and its devices go; stretches already served stay, to be handed back. */
export async function revokeBackup(db: Db, peerId: string): Promise<void> {
  await inTransaction(db, async (trx) => {
    await trx.deleteFrom('federation_backup_devices').where('home_peer_id', '=', peerId).execute();
    await trx.deleteFrom('federation_backup_homes').where('peer_id', '=', peerId).execute();
  });
}

export function findBackupHome(db: Db, peerId: string): Promise<BackupHomeRow | undefined> {
  return db.selectFrom('federation_backup_homes').selectAll().where('peer_id', '=', peerId).executeTakeFirst();
}

export function listBackupHomes(db: Db): Promise<BackupHomeRow[]> {
  return db.selectFrom('federation_backup_homes').selectAll().execute();
}

export function listBackupDevices(db: Db): Promise<BackupDeviceRow[]> {
  return db.selectFrom('federation_backup_devices').selectAll().execute();
}

export function findBackupDevice(db: Db, deviceId: string): Promise<BackupDeviceRow | undefined> {
  return db.selectFrom('federation_backup_devices').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
}

export function findBackupDeviceByWebName(db: Db, webName: string): Promise<BackupDeviceRow | undefined> {
  return db.selectFrom('federation_backup_devices').selectAll().where('web_name', '=', webName).executeTakeFirst();
}

/** Replaces everything a home's last snapshot named, in one transaction (the ports were chosen by the caller). */
export async function replaceBackupDevices(db: Db, peerId: string, rows: BackupDeviceRow[]): Promise<void> {
  await inTransaction(db, async (trx) => {
    await trx.deleteFrom('federation_backup_devices').where('home_peer_id', '=', peerId).execute();
    for (let i = 0; i < rows.length; i += 200)
      await trx
        .insertInto('federation_backup_devices')
        .values(rows.slice(i, i + 200))
        .execute();
  });
}

export async function openService(db: Db, row: BackupServiceRow): Promise<void> {
  await db.insertInto('federation_backup_service').values(row).execute();
}

export function findOpenService(db: Db, deviceId: string): Promise<BackupServiceRow | undefined> {
  return db
    .selectFrom('federation_backup_service')
    .selectAll()
    .where('device_id', '=', deviceId)
    .where('ended_at', 'is', null)
    .executeTakeFirst();
}

export async function closeService(db: Db, id: string, endedAt: string, minutes: number): Promise<void> {
  await db.updateTable('federation_backup_service').set({ ended_at: endedAt, minutes }).where('id', '=', id).execute();
}

/** Stretches that ended and were not handed back yet (or every one, `all`). */
export function listService(db: Db, o: { unhanded?: boolean } = {}): Promise<BackupServiceRow[]> {
  let q = db.selectFrom('federation_backup_service').selectAll();
  if (o.unhanded) q = q.where('ended_at', 'is not', null).where('handed_back_at', 'is', null);
  return q.orderBy('started_at').orderBy('id').execute();
}

export async function markHandedBack(db: Db, id: string, at: string, amountMicros: string, feeMicros: string): Promise<void> {
  await db
    .updateTable('federation_backup_service')
    .set({ handed_back_at: at, amount_micros: amountMicros, fee_micros: feeMicros })
    .where('id', '=', id)
    .execute();
}

// ---- on the home server (B) ----

export async function saveAgreement(db: Db, row: BackupAgreementRow): Promise<void> {
  await db
    .insertInto('federation_backup_agreements')
    .values(row)
    .onConflict((oc) =>
      oc.column('peer_id').doUpdateSet({ agreement_json: row.agreement_json, valid_until: row.valid_until, updated_at: row.updated_at }),
    )
    .execute();
}

export async function saveAssignments(db: Db, peerId: string, json: string, now: string): Promise<void> {
  await db
    .updateTable('federation_backup_agreements')
    .set({ assignments_json: json, updated_at: now })
    .where('peer_id', '=', peerId)
    .execute();
}

export function listAgreements(db: Db): Promise<BackupAgreementRow[]> {
  return db.selectFrom('federation_backup_agreements').selectAll().execute();
}

export async function deleteAgreement(db: Db, peerId: string): Promise<void> {
  await db.deleteFrom('federation_backup_agreements').where('peer_id', '=', peerId).execute();
}

/** Records a stretch a backup handed back: true the first time, false for a repeat (its primary key decides). */
export async function insertHandback(db: Db, row: Omit<BackupHandbackRow, 'carried_seq'>): Promise<boolean> {
  const r = await db
    .insertInto('federation_backup_handbacks')
    .values({ ...row, carried_seq: null })
    .onConflict((oc) => oc.columns(['peer_id', 'service_id']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export function findHandback(db: Db, peerId: string, serviceId: string): Promise<BackupHandbackRow | undefined> {
  return db
    .selectFrom('federation_backup_handbacks')
    .selectAll()
    .where('peer_id', '=', peerId)
    .where('service_id', '=', serviceId)
    .executeTakeFirst();
}

export function listHandbacks(db: Db): Promise<BackupHandbackRow[]> {
  return db.selectFrom('federation_backup_handbacks').selectAll().orderBy('received_at').execute();
}

/** One rental's hand-backs, oldest stretch first. */
export function listRentalHandbacks(db: Db, rentalId: string): Promise<BackupHandbackRow[]> {
  return db.selectFrom('federation_backup_handbacks').selectAll().where('rental_id', '=', rentalId).orderBy('started_at').execute();
}

/** Hand-backs of rentals whose renter is on another server, not yet carried into a usage report to it: oldest stretch first. */
export function listUncarriedHandbacks(db: Db): Promise<BackupHandbackRow[]> {
  return db
    .selectFrom('federation_backup_handbacks')
    .innerJoin('rentals', 'rentals.id', 'federation_backup_handbacks.rental_id')
    .selectAll('federation_backup_handbacks')
    .where('rentals.origin_peer_id', 'is not', null)
    .where('federation_backup_handbacks.carried_seq', 'is', null)
    .orderBy('federation_backup_handbacks.started_at')
    .execute();
}

/** Marks a hand-back carried by report `seq`: true only for the first caller (a compare-and-set on carried_seq). */
export async function markHandbackCarried(db: Db, peerId: string, serviceId: string, seq: number): Promise<boolean> {
  const r = await db
    .updateTable('federation_backup_handbacks')
    .set({ carried_seq: seq })
    .where('peer_id', '=', peerId)
    .where('service_id', '=', serviceId)
    .where('carried_seq', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows ?? 0n) === 1;
}

/** Our enrolled devices and each one's running rental: what a backup peer is told. */
export function listBackedUpDevices(db: Db, limit: number) {
  return db
    .selectFrom('devices')
    .leftJoin('rentals', (j) => j.onRef('rentals.open_device_id', '=', 'devices.id').on('rentals.state', 'in', ['requested', 'active']))
    .leftJoin('federation_peers', 'federation_peers.id', 'rentals.origin_peer_id')
    .where('devices.removed_at', 'is', null)
    .where('devices.public_key', 'is not', null)
    .where('devices.ssh_port', 'is not', null)
    .select([
      'devices.id as device_id',
      'devices.public_key',
      'devices.web_name',
      'rentals.id as rental_id',
      'rentals.username',
      'rentals.password_crypt',
      'rentals.ssh_public_key',
      'rentals.expires_at',
      'rentals.price_per_hour_micros',
      'federation_peers.url as renter_origin',
    ])
    .orderBy('devices.id')
    .limit(limit)
    .execute();
}

export function findRentalPrice(db: Db, rentalId: string) {
  return db.selectFrom('rentals').select(['device_id', 'price_per_hour_micros']).where('id', '=', rentalId).executeTakeFirst();
}
