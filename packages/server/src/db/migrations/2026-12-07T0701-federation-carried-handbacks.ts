import type { Kysely } from 'kysely';

/**
 * The minutes a backup served a peer's renter, carried on (docs/federation.md, "The join"):
 * the device's server (B) puts a hand-back of a rental whose renter is on another server
 * into its next signed usage report to that server, once; `carried_seq` is that report's
 * seq (null until carried, and for B's own renters, who pay nothing through a report).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('federation_backup_handbacks').addColumn('carried_seq', 'integer').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('federation_backup_handbacks').dropColumn('carried_seq').execute();
}
