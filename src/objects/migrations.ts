/**
 * Numbered, append-only SQLite migrations for a Durable Object: every migration newer than the stored
 * version is applied in one transaction, and the version kept in `schema_migrations` (Durable Object
 * SQLite has no PRAGMA user_version). Used by the tenant and batch objects' schemas, and by the task
 * object's for objects created before its migration 9 (a new task object keeps its version in its
 * task row instead: task-schema.ts).
 */

/**
 * The schema a new object starts from instead of replaying migrations 1..version: only the tables it
 * writes, each created with all its columns (each CREATE, ALTER and sqlite_master row is a row
 * written, billed for every new object). One statement per entry, so each is counted.
 */
export interface Baseline {
  version: number;
  statements: readonly string[];
}

/**
 * Apply the migrations in `list` (1-based versions, in order) that this object has not applied yet;
 * a new object starts from `baseline` (when given) and applies only the migrations after it.
 * With `lazy`, a new object (no schema yet) is left as it is: nothing is written until the caller
 * asks again without `lazy`, e.g. in the transaction that writes its first row. Returns whether the
 * object has a schema now.
 */
export function applyMigrations(
  storage: DurableObjectStorage,
  list: readonly string[],
  baseline?: Baseline,
  opts: { lazy?: boolean } = {},
): boolean {
  const sql = storage.sql;
  const exists =
    sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").toArray().length > 0;
  if (!exists && opts.lazy) return false;
  storage.transactionSync(() => {
    let current = 0;
    if (exists) {
      current = sql.exec<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations').one().v ?? 0;
    } else {
      sql.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    }
    if (current === 0 && baseline && baseline.version <= list.length) {
      for (const statement of baseline.statements) sql.exec(statement);
      current = baseline.version;
      if (current === list.length) {
        sql.exec('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', current, Date.now());
        return;
      }
    }
    for (let v = current + 1; v <= list.length; v++) sql.exec(list[v - 1]!);
    // one row for the version reached, not one per migration: a new object applies them all, and each
    // row written is billed (MAX(version) is what is read)
    if (list.length > current) {
      sql.exec('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', list.length, Date.now());
    }
  });
  return true;
}
