/**
 * The batch object's SQLite schema as an append-only list of numbered migrations (the same scheme as
 * task-schema.ts: one transaction, the applied version kept in `schema_migrations`).
 * Never edit a published migration: append a new one.
 */
import { applyMigrations } from './migrations.ts';
import { WEBHOOK_OUTBOX_MIGRATION } from './webhook-outbox.ts';

const MIGRATIONS: readonly string[] = [
  // 1: the batch, its children (with what each task was created from) and its event log
  `
  CREATE TABLE batch (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running','succeeded','partial','failed','canceled')),
    label TEXT,
    body_hash TEXT NOT NULL,
    origin TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
  );
  CREATE TABLE children (
    idx INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    input_key TEXT,
    body_hash TEXT NOT NULL,
    created INTEGER NOT NULL DEFAULT 0 CHECK (created IN (0, 1)),
    create_attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('queued','running','retrying','succeeded','failed','canceled')),
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    error TEXT,
    task_seq INTEGER NOT NULL DEFAULT 0,
    outputs TEXT NOT NULL DEFAULT '[]',
    checked_at INTEGER NOT NULL
  );
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('status','child','progress')),
    body TEXT NOT NULL
  );
  `,
  // 2: webhook deliveries and their attempts (webhook-outbox.ts)
  WEBHOOK_OUTBOX_MIGRATION,
];

/** Apply every migration newer than the stored version, all in one transaction. */
export function migrate(storage: DurableObjectStorage): void {
  applyMigrations(storage, MIGRATIONS);
}
