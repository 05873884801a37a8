import type { Kysely } from 'kysely';

/**
 * Leases that decide which server node does a piece of cluster-wide work (the periodic
 * jobs: metering, expiry, mail, notices). A node holds a lease until `expires_at` and
 * renews it well before; `fencing_token` goes up by one at every change of holder, so work
 * an old holder started can be refused once a new one took over (cluster/leader-lease.ts).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('cluster_leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder_node', 'text', (c) => c.notNull())
    .addColumn('fencing_token', 'bigint', (c) => c.notNull())
    .addColumn('acquired_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('cluster_leases').execute();
}
