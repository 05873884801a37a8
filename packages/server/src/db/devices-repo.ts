import { sql } from 'kysely';
import { updateFromValues, type Db } from './database.ts';
import { dedupKeyExpr } from './mail-repo.ts';
import type { DevicesTable, EnrolmentTokensTable } from './schema.ts';
import { inTransaction } from './transactions.ts';

export type DeviceRow = DevicesTable;

export function insertDevice(db: Db, device: DeviceRow): Promise<unknown> {
  return db.insertInto('devices').values(device).execute();
}

/** Public SSH ports held by devices inside [lo, hi]. */
export async function usedPorts(db: Db, [lo, hi]: readonly [number, number]): Promise<Set<number>> {
  const rows = await db.selectFrom('devices').select('ssh_port').where('ssh_port', '>=', lo).where('ssh_port', '<=', hi).execute();
  return new Set(rows.map((r) => Number(r.ssh_port)));
}

/** Devices of an owner that never enrolled (they have no port yet) and are not removed. */
export async function countPendingDevices(db: Db, ownerId: string): Promise<number> {
  const row = await db
    .selectFrom('devices')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('owner_id', '=', ownerId)
    .where('removed_at', 'is', null)
    .where('ssh_port', 'is', null)
    .where('enrolled_at', 'is', null)
    .where('public_key', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Deletes devices that never enrolled and have no enrolment token left that could still
 * enrol them (all expired or spent), with their tokens. Such a device has no port, no
 * rental and no ledger entry, so nothing else refers to it.
 */
export async function deleteExpiredPendingDevices(db: Db, now: string): Promise<number> {
  return inTransaction(db, async (trx) => {
    const rows = await trx
      .selectFrom('devices')
      .select('id')
      .where('removed_at', 'is', null)
      .where('ssh_port', 'is', null)
      .where('enrolled_at', 'is', null)
      .where('public_key', 'is', null)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('enrolment_tokens')
              .select('enrolment_tokens.id')
              .whereRef('enrolment_tokens.device_id', '=', 'devices.id')
              .where('enrolment_tokens.spent_at', 'is', null)
              .where('enrolment_tokens.expires_at', '>', now),
          ),
        ),
      )
      .limit(1000)
      .execute();
    const ids = rows.map((r) => r.id);
    if (ids.length === 0) return 0;
    await trx.deleteFrom('enrolment_tokens').where('device_id', 'in', ids).execute();
    await trx.deleteFrom('devices').where('id', 'in', ids).execute();
    return ids.length;
  });
}

export function findDevice(db: Db, id: string): Promise<DeviceRow | undefined> {
  return db.selectFrom('devices').selectAll().where('id', '=', id).where('removed_at', 'is', null).executeTakeFirst();
}

/** The device with this web name, unless it has been removed. */
export function findDeviceByWebName(db: Db, webName: string): Promise<DeviceRow | undefined> {
  return db.selectFrom('devices').selectAll().where('web_name', '=', webName).where('removed_at', 'is', null).executeTakeFirst();
}

/** Adds to a rental's byte counters. */
export function addRentalTraffic(db: Db, rentalId: string, bytesIn: number, bytesOut: number): Promise<unknown> {
  return db
    .updateTable('rentals')
    .set((eb) => ({ bytes_in: eb('bytes_in', '+', bytesIn), bytes_out: eb('bytes_out', '+', bytesOut) }))
    .where('id', '=', rentalId)
    .execute();
}

export function listOwnerDevices(db: Db, ownerId: string): Promise<DeviceRow[]> {
  return db
    .selectFrom('devices')
    .selectAll()
    .where('owner_id', '=', ownerId)
    .where('removed_at', 'is', null)
    .orderBy('created_at')
    .execute();
}

export function listEnrolledDevices(db: Db): Promise<Pick<DeviceRow, 'id' | 'public_key' | 'ssh_port'>[]> {
  return db
    .selectFrom('devices')
    .select(['id', 'public_key', 'ssh_port'])
    .where('removed_at', 'is', null)
    .where('public_key', 'is not', null)
    .execute();
}

/**
 * Records `ts` as the device's newest accepted signature timestamp, only if it is newer than
 * the last: false when it is not (a replay, or a request overtaken by a newer one).
 */
export async function advanceDeviceSignedTs(db: Db, id: string, ts: number): Promise<boolean> {
  const result = await db
    .updateTable('devices')
    .set({ last_signed_ts: ts })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_signed_ts', 'is', null), eb('last_signed_ts', '<', ts)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function deviceSignedTs(db: Db, id: string): Promise<number | null> {
  const row = await db.selectFrom('devices').select('last_signed_ts').where('id', '=', id).executeTakeFirst();
  return row?.last_signed_ts == null ? null : Number(row.last_signed_ts);
}

export function updateDevice(db: Db, id: string, changes: Partial<DeviceRow>): Promise<unknown> {
  return db.updateTable('devices').set(changes).where('id', '=', id).execute();
}

/** Milliseconds from one ISO time to another, never negative. */
const between = (from: string, to: string) => Math.max(0, new Date(to).getTime() - new Date(from).getTime());

/**
 * A device's tunnel came up or went down at `now`: its online flag, when it was last seen,
 * and its uptime record (time up is added when the tunnel goes down).
 */
export function recordTunnel(db: Db, deviceId: string, online: boolean, now: string): Promise<unknown> {
  return inTransaction(db, async (trx) => {
    const row = await trx.selectFrom('devices').select(['online_since', 'online_ms']).where('id', '=', deviceId).executeTakeFirst();
    if (!row) return;
    const changes = online
      ? { online: 1, last_seen_at: now, online_since: row.online_since ?? now }
      : {
          online: 0,
          last_seen_at: now,
          online_since: null,
          online_ms: BigInt(row.online_ms) + BigInt(row.online_since ? between(row.online_since, now) : 0),
        };
    await trx.updateTable('devices').set(changes).where('id', '=', deviceId).execute();
  });
}

/**
 * At start, no tunnel is up yet (on this node; with `cluster`, other live nodes' tunnels are). Devices that were up when the server stopped are credited
 * uptime until they were last heard of (their last tunnel change or heartbeat), not until
 * now: the server being away says nothing good about them.
 */
export async function markAllOffline(db: Db, cluster?: { liveSince: string }): Promise<void> {
  await inTransaction(db, async (trx) => {
    let query = trx
      .selectFrom('devices')
      .select(['id', 'online_since', 'online_ms', 'last_seen_at', 'last_heartbeat_at'])
      .where((eb) => eb.or([eb('online', '=', 1), eb('online_since', 'is not', null)]));
    // In a cluster, a device whose tunnel another live node holds stays online (cluster/cluster-node.ts).
    if (cluster) {
      query = query.where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('tunnel_holders')
              .innerJoin('cluster_nodes', 'cluster_nodes.id', 'tunnel_holders.node_id')
              .select('tunnel_holders.device_id')
              .whereRef('tunnel_holders.device_id', '=', 'devices.id')
              .where('cluster_nodes.stopped_at', 'is', null)
              .where('cluster_nodes.heartbeat_at', '>=', cluster.liveSince),
          ),
        ),
      );
    }
    const rows = await query.execute();
    const credited = rows.map((r) => {
      const heard = [r.last_seen_at, r.last_heartbeat_at]
        .filter((t): t is string => t !== null)
        .sort()
        .at(-1);
      const up = r.online_since && heard ? between(r.online_since, heard) : 0;
      return [r.id, BigInt(r.online_ms) + BigInt(up)] as const;
    });
    await updateFromValues(trx, {
      table: 'devices',
      key: 'id',
      types: ['text', 'bigint'],
      set: sql`online = 0, online_since = null, online_ms = v.column2`,
      rows: credited,
    });
  });
}

/** How much of the time since it is tracked the device was up, in percent with one decimal; null until a day is known. */
export function uptimePercent(row: Pick<DeviceRow, 'online_since' | 'online_ms' | 'uptime_tracked_since'>, now: Date): number | null {
  if (!row.uptime_tracked_since) return null;
  const tracked = between(row.uptime_tracked_since, now.toISOString());
  if (tracked < 24 * 3_600_000) return null;
  const up = Number(row.online_ms) + (row.online_since ? between(row.online_since, now.toISOString()) : 0);
  return Math.min(100, Math.round((up / tracked) * 1000) / 10);
}

/** Listed = enrolled, online, priced, on the market, its storage working, its hardware not flagged, and not held by an open rental. */
export function listMarket(db: Db): Promise<DeviceRow[]> {
  return (
    db
      .selectFrom('devices')
      .selectAll('devices')
      .where('devices.removed_at', 'is', null)
      .where('devices.online', '=', 1)
      .where('devices.on_market', '=', 1)
      .where('devices.price_per_hour_micros', 'is not', null)
      .where('devices.hardware', 'is not', null)
      .where('devices.storage_fault', 'is', null)
      // Verified hardware: a device whose last benchmark did not bear out its claims is not sold.
      .where('devices.hardware_flag', 'is', null)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('rentals').select('rentals.id').whereRef('rentals.open_device_id', '=', 'devices.id'))),
      )
      .execute()
  );
}

export function insertEnrolmentToken(db: Db, token: EnrolmentTokensTable): Promise<unknown> {
  return db.insertInto('enrolment_tokens').values(token).execute();
}

export function findEnrolmentToken(db: Db, tokenHash: string): Promise<EnrolmentTokensTable | undefined> {
  return db.selectFrom('enrolment_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

/** Spends the token; false when someone else spent it first. */
export async function spendEnrolmentToken(db: Db, id: string, at: string): Promise<boolean> {
  const res = await db
    .updateTable('enrolment_tokens')
    .set({ spent_at: at })
    .where('id', '=', id)
    .where('spent_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Invalidates every unspent token of a device (a new one replaces them). */
export function revokeEnrolmentTokens(db: Db, deviceId: string, at: string): Promise<unknown> {
  return db.updateTable('enrolment_tokens').set({ spent_at: at }).where('device_id', '=', deviceId).where('spent_at', 'is', null).execute();
}

/** Who sees a device change: its owner, and its open rental's renter if it has one. */
export function findDeviceWatchers(db: Db, deviceId: string): Promise<{ ownerId: string; renterId: string | null } | undefined> {
  return db
    .selectFrom('devices')
    .leftJoin('rentals', (join) => join.onRef('rentals.open_device_id', '=', 'devices.id'))
    .select(['devices.owner_id as ownerId', 'rentals.renter_id as renterId'])
    .where('devices.id', '=', deviceId)
    .executeTakeFirst();
}

/** Enrolled devices offline since `cutoff` or before, with their active rental if any, whose owner has not been told of this outage. */
export function listOfflineDevicesUnnoticed(db: Db, cutoff: string) {
  return db
    .selectFrom('devices')
    .leftJoin('rentals', (join) => join.onRef('rentals.open_device_id', '=', 'devices.id').on('rentals.state', '=', 'active'))
    .select([
      'devices.id as id',
      'devices.owner_id as ownerId',
      'devices.name as name',
      'devices.last_seen_at as since',
      'rentals.id as rentalId',
    ])
    .where('devices.removed_at', 'is', null)
    .where('devices.public_key', 'is not', null)
    .where('devices.online', '=', 0)
    .where('devices.last_seen_at', 'is not', null)
    .where('devices.last_seen_at', '<=', cutoff)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('mail_messages')
            .select('mail_messages.id')
            .whereRef('mail_messages.dedup_key', '=', dedupKeyExpr('device_offline:', 'devices.id', 'devices.last_seen_at')),
        ),
      ),
    )
    .execute();
}

/** An owner's devices not removed, by name: their IDs and names. */
export function listOwnerDeviceNames(db: Db, ownerId: string): Promise<Pick<DeviceRow, 'id' | 'name'>[]> {
  return db
    .selectFrom('devices')
    .select(['id', 'name'])
    .where('owner_id', '=', ownerId)
    .where('removed_at', 'is', null)
    .orderBy('name')
    .execute();
}

/** How many devices (not removed) each of these owners has. */
export function countDevicesByOwner(db: Db, ownerIds: string[]) {
  return db
    .selectFrom('devices')
    .select('owner_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('removed_at', 'is', null)
    .where('owner_id', 'in', ownerIds)
    .groupBy('owner_id')
    .execute();
}

/** Devices not removed, with their owner's email, in the order they were added, after (created_at, id) `from`, up to `limit`. */
export function listDevicesPage(db: Db, from: readonly [string, string] | undefined, limit: number) {
  let q = db
    .selectFrom('devices')
    .innerJoin('users', 'users.id', 'devices.owner_id')
    .selectAll('devices')
    .select('users.email as owner_email')
    .where('devices.removed_at', 'is', null);
  if (from)
    q = q.where((eb) =>
      eb.or([eb('devices.created_at', '>', from[0]), eb.and([eb('devices.created_at', '=', from[0]), eb('devices.id', '>', from[1])])]),
    );
  return q.orderBy('devices.created_at').orderBy('devices.id').limit(limit).execute();
}
