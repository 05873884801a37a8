import { sql, type Kysely } from 'kysely';

/**
 * What the database's migration table says about this release's migrations, read before
 * the migrator runs. During a rolling upgrade (docs/production.md) the first node of the
 * new release migrates the shared database while the old release's nodes keep running;
 * one of those may restart before it is upgraded. Kysely's migrator refuses a database
 * holding a migration it does not know ("corrupted migrations"), which would keep that
 * node down, so the migrator runs only when this release has something to apply.
 * `newer` are the migrations only a newer release knows: every migration must be one the
 * previous release tolerates, so this node runs on such a schema as it is.
 */
export async function migrationState(db: Kysely<any>, known: readonly string[]): Promise<{ pending: string[]; newer: string[] }> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === 'kysely_migration')) return { pending: [...known], newer: [] };
  const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
  const executed = new Set(rows.rows.map((r) => r.name));
  const knownSet = new Set(known);
  return {
    pending: known.filter((name) => !executed.has(name)),
    newer: [...executed].filter((name) => !knownSet.has(name)).sort(),
  };
}
