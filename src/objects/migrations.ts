/**
 * Numbered, append-only SQLite migrations for a Durable Object: every migration newer than the stored
 * version is applied in one transaction, and the version kept in `schema_migrations` (Durable Object
 * SQLite has no PRAGMA user_version). Used by the task, tenant and batch objects' schemas.
 */

/** Apply the migrations in `list` (1-based versions, in order) that this object has not applied yet. */
export function applyMigrations(storage: DurableObjectStorage, list: readonly string[]): void {
  const sql = storage.sql;
  storage.transactionSync(() => {
    sql.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const current = sql.exec<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations').one().v ?? 0;
    for (let v = current + 1; v <= list.length; v++) sql.exec(list[v - 1]!);
    // one row for the version reached, not one per migration: a new object applies them all, and each
    // row written is billed (MAX(version) is what is read)
    if (list.length > current) {
      sql.exec('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', list.length, Date.now());
    }
  });
}
