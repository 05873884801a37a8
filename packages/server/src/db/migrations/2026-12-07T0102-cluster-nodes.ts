import type { Kysely } from 'kysely';

/**
 * Several server nodes on one database. Each node registers itself (the address of its
 * node-to-node link, a heartbeat), and the node that holds a device's reverse tunnel says
 * so in `tunnel_holders`, so any node can carry a visitor or renter to it. A holder whose
 * node's heartbeat is stale counts as offline. Nothing else refers to these tables.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('cluster_nodes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('link_host', 'text')
    .addColumn('link_port', 'integer')
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('heartbeat_at', 'text', (c) => c.notNull())
    .addColumn('stopped_at', 'text')
    .execute();
  await db.schema
    .createTable('tunnel_holders')
    .addColumn('device_id', 'text', (c) => c.primaryKey())
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('since', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tunnel_holders_node').on('tunnel_holders').column('node_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('tunnel_holders').execute();
  await db.schema.dropTable('cluster_nodes').execute();
}
