/**
 * The task object's SQLite schema as an append-only list of numbered migrations.
 *
 * Applied in one transaction inside blockConcurrencyWhile. Durable Object SQLite has no PRAGMA
 * user_version, so the applied version is stored: since migration 9 in the task row itself (its
 * `schema_version` column, written by the create's INSERT, which writes that row anyway), before it
 * in a `schema_migrations` table (a table costs a new object 3 rows written: its CREATE and its one
 * row). An object created before migration 9 keeps its table, which stays where its version lives.
 * Never edit a published migration: append a new one. A new object starts from BASELINE (below).
 */
import { applyMigrations, type Baseline } from './migrations.ts';
import { RUN_TIMELINE_MIGRATION, TIMELINE_IN_ROW_MIGRATION } from './run-timeline.ts';
import { WEBHOOK_OUTBOX_MIGRATION } from './webhook-outbox.ts';

export const MIGRATIONS: readonly string[] = [
  // 1: the task, its steps, its outputs and its event log
  `
  CREATE TABLE task (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued','running','retrying','succeeded','failed','canceled')),
    stage TEXT,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 1,
    max_attempts INTEGER NOT NULL,
    run_at INTEGER,
    last_error TEXT,
    input TEXT NOT NULL,
    input_key TEXT,
    label TEXT,
    body_hash TEXT NOT NULL,
    current_step INTEGER NOT NULL DEFAULT 0,
    job_id TEXT,
    job_seq INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE steps (
    idx INTEGER PRIMARY KEY,
    op TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','running','succeeded','failed','canceled')),
    progress REAL NOT NULL DEFAULT 0,
    started_at INTEGER,
    finished_at INTEGER
  );
  CREATE TABLE outputs (
    name TEXT PRIMARY KEY,
    step INTEGER NOT NULL,
    r2_key TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('status','step','progress','output','log')),
    body TEXT NOT NULL
  );
  `,
  // 2: the batch a task was created in (null for a task created on its own)
  `
  ALTER TABLE task ADD COLUMN batch_id TEXT;
  `,
  // 3: attempts one run may use (the task's own maxAttempts as created), so a manual retry grants the
  // task's own budget again rather than the server's default
  `
  ALTER TABLE task ADD COLUMN attempts_per_run INTEGER NOT NULL DEFAULT 0;
  UPDATE task SET attempts_per_run = max_attempts;
  `,
  // 4: the highest seq a subscriber may have been sent ahead of the log (see pending-progress.ts)
  `
  ALTER TABLE task ADD COLUMN seq_reserved INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: webhook deliveries and their attempts (webhook-outbox.ts)
  WEBHOOK_OUTBOX_MIGRATION,
  // 6: the run timeline (run-timeline.ts)
  RUN_TIMELINE_MIGRATION,
  // 7: fewer rows written per task: the run timeline and the request body as columns of the task row
  // (run-timeline.ts); the steps as a JSON column of the task row, so a step change or a flush of progress
  // rewrites the row it writes anyway (task-store.ts; the steps table is no longer written), and the
  // outputs likewise (the outputs table is no longer written); a flush's
  // progress events in one row of the log (event-log.ts)
  `${TIMELINE_IN_ROW_MIGRATION}
  ALTER TABLE task ADD COLUMN steps TEXT;
  UPDATE task SET steps = (
    SELECT json_group_array(
      json_object('index', idx, 'op', op, 'params', json(params), 'status', status, 'progress', progress))
    FROM (SELECT * FROM steps ORDER BY idx));
  ALTER TABLE task ADD COLUMN outputs TEXT;
  UPDATE task SET outputs = (
    SELECT json_group_array(json_object('name', name, 'step', step, 'key', r2_key, 'size', size,
      'contentType', content_type, 'createdAt', created_at, 'expiresAt', expires_at))
    FROM (SELECT * FROM outputs ORDER BY created_at, name));
  ALTER TABLE events ADD COLUMN last_seq INTEGER;
  `,
  // 8: the newest events in the task row (task-log.ts), so a transaction writes one row, not two;
  // the events table keeps what was written before and the tails that grew long
  `
  ALTER TABLE task ADD COLUMN tail TEXT;
  `,
  // 9: the schema version in the task row (see the header); an object migrated here keeps its
  // schema_migrations table, which still holds its version (the column stays 0 there)
  `
  ALTER TABLE task ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 0;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Where a new task object starts: the schema of migrations 1-9 without the tables it never writes
 * (`steps`, `outputs`, `timeline_spans`, `timeline_request`: read only by migration 7, for older
 * objects), without the webhook outbox's tables, which the outbox creates when a target is set
 * (webhook-outbox.ts), and without the events table, which the log creates when the task row's tail
 * of events first grows long (task-log.ts): most tasks have no webhook and a short log, and creating
 * a table writes rows. The task table's id is not a PRIMARY KEY here (BASELINE_DIFFERS): the table
 * holds one row. A new object writes 2 schema rows (the task table's CREATE; its version is a column
 * of the row its create inserts) where the full list would write dozens. test/workers/schema.test.ts checks the
 * tables it creates (and the events table task-log.ts creates) against the ones the migrations
 * build, column for column. A later migration that changes a table left out here must create it
 * when it is missing.
 */
export const BASELINE: Baseline = {
  version: 9,
  statements: [
    // one row, always read whole: a PRIMARY KEY on id would only add an index row to every write
    `CREATE TABLE task (
      id TEXT NOT NULL,
      tenant TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('queued','running','retrying','succeeded','failed','canceled')),
      stage TEXT,
      progress REAL NOT NULL DEFAULT 0,
      message TEXT NOT NULL DEFAULT '',
      attempt INTEGER NOT NULL DEFAULT 1,
      max_attempts INTEGER NOT NULL,
      run_at INTEGER,
      last_error TEXT,
      input TEXT NOT NULL,
      input_key TEXT,
      label TEXT,
      body_hash TEXT NOT NULL,
      current_step INTEGER NOT NULL DEFAULT 0,
      job_id TEXT,
      job_seq INTEGER NOT NULL DEFAULT 0,
      seq INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      batch_id TEXT,
      attempts_per_run INTEGER NOT NULL DEFAULT 0,
      seq_reserved INTEGER NOT NULL DEFAULT 0,
      timeline TEXT,
      request TEXT,
      steps TEXT,
      outputs TEXT,
      tail TEXT,
      schema_version INTEGER NOT NULL DEFAULT 0
    )`,
  ],
};

/** The tables the baseline leaves out (see BASELINE). */
export const BASELINE_OMITS = [
  'events',
  'steps',
  'outputs',
  'timeline_spans',
  'timeline_request',
  'webhook_target',
  'webhook_deliveries',
  'webhook_attempts',
];

/** Where the baseline differs from the migrations on purpose: the task row's id is not a PRIMARY KEY. */
export const BASELINE_DIFFERS = { table: 'task', column: 'id', pk: 0 } as const;

/** The first version kept in the task row: an object without schema_migrations is at least here. */
const VERSION_IN_ROW_SINCE = 9;

/** Objects whose database has no schema yet (see migrate). */
const unborn = new WeakSet<DurableObjectStorage>();
/** Objects whose schema `ensureSchema` created from BASELINE (so the tables it omits are known missing). */
const baselined = new WeakSet<DurableObjectStorage>();

/**
 * Apply every migration newer than the stored version, all in one transaction. A new object (an
 * empty database) is left empty: its schema is created by the transaction that writes its task row
 * (`ensureSchema`, called by TaskStore.create), so an object that only answers "no such task" (an
 * unknown id, a deleted task) writes nothing and stores nothing. `list` is MIGRATIONS except in tests.
 */
export function migrate(storage: DurableObjectStorage, list: readonly string[] = MIGRATIONS): void {
  const sql = storage.sql;
  // read from SQLite again: a schema ensureSchema created may have rolled back with its transaction
  baselined.delete(storage);
  const found = new Set(
    sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'task')",
      )
      .toArray()
      .map((r) => r.name),
  );
  if (found.has('schema_migrations')) {
    // an object from before migration 9: its version table says where it is
    applyMigrations(storage, list);
    unborn.delete(storage);
    return;
  }
  if (!found.has('task')) {
    unborn.add(storage);
    return;
  }
  unborn.delete(storage);
  const stored = sql.exec<{ v: number }>('SELECT schema_version AS v FROM task LIMIT 1').toArray()[0]?.v ?? 0;
  const current = Math.max(VERSION_IN_ROW_SINCE, Number(stored));
  if (current >= list.length) return;
  storage.transactionSync(() => {
    for (let v = current + 1; v <= list.length; v++) sql.exec(list[v - 1]!);
    sql.exec('UPDATE task SET schema_version = ?', list.length);
  });
}

/** Does this object have no schema yet (so no task)? Known from its last `migrate`. */
export function schemaMissing(storage: DurableObjectStorage): boolean {
  return unborn.has(storage);
}

/**
 * Create the schema of an object that has none (inside the caller's transaction): the baseline and
 * any migration after it. No version is written here: the task row's INSERT carries SCHEMA_VERSION.
 * Answers whether it created the schema (false: the object had one).
 */
export function ensureSchema(storage: DurableObjectStorage): boolean {
  if (!unborn.has(storage)) return false;
  for (const statement of BASELINE.statements) storage.sql.exec(statement);
  for (let v = BASELINE.version + 1; v <= MIGRATIONS.length; v++) storage.sql.exec(MIGRATIONS[v - 1]!);
  unborn.delete(storage);
  baselined.add(storage);
  return true;
}

/**
 * Was this object's schema created from BASELINE by this instance (`ensureSchema`)? Then the tables
 * the baseline omits (BASELINE_OMITS) are known missing, and the modules that create theirs when
 * first needed (the webhook outbox, the task log) need not ask sqlite_master. False for an object
 * migrated from an older schema, which may have them. Reset by `migrate` (a rollback).
 */
export function fromBaseline(storage: DurableObjectStorage): boolean {
  return baselined.has(storage);
}
