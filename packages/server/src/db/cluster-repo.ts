import type { Db } from './database.ts';

/** Where a live node's node-to-node link answers. */
export interface NodeAddress {
  nodeId: string;
  host: string;
  port: number;
}

/** A node starts (or starts again under the same ID): its link address, and alive from now. */
export async function registerNode(
  db: Db,
  node: { id: string; linkHost: string | null; linkPort: number | null; now: string },
): Promise<void> {
  const row = { link_host: node.linkHost, link_port: node.linkPort, started_at: node.now, heartbeat_at: node.now, stopped_at: null };
  await db
    .insertInto('cluster_nodes')
    .values({ id: node.id, ...row })
    .onConflict((oc) => oc.column('id').doUpdateSet(row))
    .execute();
}

export async function heartbeatNode(db: Db, id: string, now: string): Promise<void> {
  await db.updateTable('cluster_nodes').set({ heartbeat_at: now }).where('id', '=', id).where('stopped_at', 'is', null).execute();
}

/** A clean shutdown: the node is gone at once, not only once its heartbeat is stale. */
export async function stopNode(db: Db, id: string, now: string): Promise<void> {
  await db.updateTable('cluster_nodes').set({ stopped_at: now }).where('id', '=', id).execute();
}

/** The device's tunnel is up on this node; a newer holder replaces an older one. */
export async function holdTunnel(db: Db, deviceId: string, nodeId: string, now: string): Promise<void> {
  await db
    .insertInto('tunnel_holders')
    .values({ device_id: deviceId, node_id: nodeId, since: now })
    .onConflict((oc) => oc.column('device_id').doUpdateSet({ node_id: nodeId, since: now }))
    .execute();
}

/** The device's tunnel went down on this node; a row another node wrote since stays. */
export async function releaseTunnel(db: Db, deviceId: string, nodeId: string): Promise<void> {
  await db.deleteFrom('tunnel_holders').where('device_id', '=', deviceId).where('node_id', '=', nodeId).execute();
}

/** The live node (heartbeat at or after `freshSince`, not stopped) that holds the device's tunnel, with its link. */
export async function findTunnelHolder(db: Db, deviceId: string, freshSince: string): Promise<NodeAddress | null> {
  const row = await db
    .selectFrom('tunnel_holders')
    .innerJoin('cluster_nodes', 'cluster_nodes.id', 'tunnel_holders.node_id')
    .select(['cluster_nodes.id', 'cluster_nodes.link_host', 'cluster_nodes.link_port'])
    .where('tunnel_holders.device_id', '=', deviceId)
    .where('cluster_nodes.stopped_at', 'is', null)
    .where('cluster_nodes.heartbeat_at', '>=', freshSince)
    .executeTakeFirst();
  if (!row) return null;
  return { nodeId: row.id, host: row.link_host ?? '', port: Number(row.link_port ?? 0) };
}

/** Devices whose tunnel this node is recorded as holding. */
export async function devicesHeldBy(db: Db, nodeId: string): Promise<string[]> {
  const rows = await db.selectFrom('tunnel_holders').select('device_id').where('node_id', '=', nodeId).execute();
  return rows.map((r) => r.device_id);
}

/** Devices whose tunnel a live node other than `selfId` holds. */
export async function remotelyHeldDevices(db: Db, selfId: string, freshSince: string): Promise<string[]> {
  const rows = await db
    .selectFrom('tunnel_holders')
    .innerJoin('cluster_nodes', 'cluster_nodes.id', 'tunnel_holders.node_id')
    .select('tunnel_holders.device_id')
    .where('tunnel_holders.node_id', '!=', selfId)
    .where('cluster_nodes.stopped_at', 'is', null)
    .where('cluster_nodes.heartbeat_at', '>=', freshSince)
    .execute();
  return rows.map((r) => r.device_id);
}

/**
 * Deletes the holders whose node is dead (stale, stopped, or unknown), and those of
 * `alsoNode` (this node's own rows from before a restart), returning their devices: the
 * node whose delete took a row is the one that marks its device offline, so that happens
 * once however many nodes reap at the same time.
 */
export async function reapTunnelHolders(db: Db, freshSince: string, alsoNode?: string): Promise<string[]> {
  const rows = await db
    .deleteFrom('tunnel_holders')
    .where((eb) =>
      eb.or([
        eb(
          'node_id',
          'not in',
          eb.selectFrom('cluster_nodes').select('id').where('stopped_at', 'is', null).where('heartbeat_at', '>=', freshSince),
        ),
        ...(alsoNode === undefined ? [] : [eb('node_id', '=', alsoNode)]),
      ]),
    )
    .returning('device_id')
    .execute();
  return rows.map((r) => r.device_id);
}

/** Devices with a rental a renter may log into now (requested or active), with their public SSH port. */
export async function rentalPorts(db: Db): Promise<{ deviceId: string; port: number; rentalId: string }[]> {
  const rows = await db
    .selectFrom('rentals')
    .innerJoin('devices', 'devices.id', 'rentals.device_id')
    .select(['devices.id as deviceId', 'devices.ssh_port as port', 'rentals.id as rentalId'])
    .where('rentals.open_device_id', 'is not', null)
    .where('rentals.state', 'in', ['requested', 'active'])
    .where('devices.removed_at', 'is', null)
    .where('devices.ssh_port', 'is not', null)
    .execute();
  return rows.map((r) => ({ deviceId: r.deviceId, port: Number(r.port), rentalId: r.rentalId }));
}
