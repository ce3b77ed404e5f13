/**
 * The TenantObject's SQLite schema: its append-only migrations (applied by migrations.ts when the
 * object wakes). The tables belong to tenant-index.ts (tasks), tenant-slots.ts (lane: the slots and
 * the line, and since migration 8 the init of a task taken in by intake; slots and waiting before
 * migration 7), tenant-usage.ts (usage, admitted) and
 * tenant-webhooks.ts.
 *
 * Every row written is billed, and so is every index entry a write touches (an index on a column a
 * statement sets is written even when the value is unchanged): migrations 6 and 7 cut both.
 */
import { TENANT_WEBHOOKS_MIGRATION } from './tenant-webhooks.ts';

export const TENANT_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('queued','running','retrying','succeeded','failed','canceled')),
    label TEXT,
    source TEXT NOT NULL,
    ops TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 1,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX tasks_by_created ON tasks (created_at DESC, id DESC);
  CREATE INDEX tasks_by_status ON tasks (status, created_at DESC);
  `,
  `
  CREATE TABLE slots (task_id TEXT PRIMARY KEY, acquired_at INTEGER NOT NULL);
  CREATE TABLE waiting (task_id TEXT PRIMARY KEY, enqueued_at INTEGER NOT NULL);
  `,
  `
  CREATE TABLE usage (
    day TEXT PRIMARY KEY,
    tasks INTEGER NOT NULL DEFAULT 0 CHECK (tasks >= 0),
    output_bytes INTEGER NOT NULL DEFAULT 0 CHECK (output_bytes >= 0)
  );
  CREATE TABLE admitted (task_id TEXT PRIMARY KEY, day TEXT NOT NULL);
  `,
  // 4: the waiting line is read head first on every grant and hand-off: an index, not a sort of the line
  `
  CREATE INDEX waiting_in_order ON waiting (enqueued_at, task_id);
  CREATE INDEX admitted_by_day ON admitted (day);
  `,
  // 5: webhook signing secrets and the default target (tenant-webhooks.ts)
  TENANT_WEBHOOKS_MIGRATION,
  // 6: fewer rows written per task: the index, the slots and the line keyed by their primary keys
  // (WITHOUT ROWID: no second copy of the key in an automatic index), and the line keyed by its
  // order alone (membership is in tenant-slots.ts's in-memory copy)
  `
  CREATE TABLE tasks_v6 (
    id TEXT NOT NULL PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('queued','running','retrying','succeeded','failed','canceled')),
    label TEXT,
    source TEXT NOT NULL,
    ops TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 1,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO tasks_v6 (id, status, label, source, ops, progress, message, attempt, seq, created_at, updated_at)
    SELECT id, status, label, source, ops, progress, message, attempt, seq, created_at, updated_at FROM tasks;
  DROP TABLE tasks;
  ALTER TABLE tasks_v6 RENAME TO tasks;
  CREATE INDEX tasks_by_created ON tasks (created_at DESC, id DESC);
  CREATE INDEX tasks_by_status ON tasks (status, created_at DESC);
  CREATE TABLE slots_v6 (task_id TEXT NOT NULL PRIMARY KEY, acquired_at INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO slots_v6 (task_id, acquired_at) SELECT task_id, acquired_at FROM slots;
  DROP TABLE slots;
  ALTER TABLE slots_v6 RENAME TO slots;
  CREATE TABLE waiting_v6 (
    enqueued_at INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    PRIMARY KEY (enqueued_at, task_id)
  ) WITHOUT ROWID;
  INSERT OR IGNORE INTO waiting_v6 (enqueued_at, task_id) SELECT enqueued_at, task_id FROM waiting;
  DROP TABLE waiting;
  ALTER TABLE waiting_v6 RENAME TO waiting;
  `,
  // 7: fewer rows written per task. The status index goes (counts and the active statuses come from
  // tenant-tally.ts's in-memory copy); only failed and canceled rows, rare and read by the list's
  // filter, keep one. A slot and a place in line are one row of `lane` that changes state, instead of
  // a row deleted in one table and inserted in another. `admitted` and `usage` lose their rowid (and
  // `admitted` its day index: it is pruned by a scan once a day), so each insert is one row.
  `
  DROP INDEX tasks_by_status;
  CREATE INDEX tasks_ended_badly ON tasks (status, created_at DESC, id DESC) WHERE status IN ('failed','canceled');
  CREATE TABLE lane (
    task_id TEXT NOT NULL PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('waiting','holding')),
    since INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO lane (task_id, state, since) SELECT task_id, 'holding', acquired_at FROM slots;
  INSERT OR IGNORE INTO lane (task_id, state, since) SELECT task_id, 'waiting', enqueued_at FROM waiting;
  DROP TABLE slots;
  DROP TABLE waiting;
  CREATE TABLE admitted_v7 (task_id TEXT NOT NULL PRIMARY KEY, day TEXT NOT NULL) WITHOUT ROWID;
  INSERT INTO admitted_v7 (task_id, day) SELECT task_id, day FROM admitted;
  DROP TABLE admitted;
  ALTER TABLE admitted_v7 RENAME TO admitted;
  CREATE TABLE usage_v7 (
    day TEXT NOT NULL PRIMARY KEY,
    tasks INTEGER NOT NULL DEFAULT 0 CHECK (tasks >= 0),
    output_bytes INTEGER NOT NULL DEFAULT 0 CHECK (output_bytes >= 0)
  ) WITHOUT ROWID;
  INSERT INTO usage_v7 (day, tasks, output_bytes) SELECT day, tasks, output_bytes FROM usage;
  DROP TABLE usage;
  ALTER TABLE usage_v7 RENAME TO usage;
  `,
  // 8: a task taken in by intake (TenantObject.intake) has no object until it is handed its slot or
  // looked at: what its object creates itself from is kept in its lane row (JSON; bytes, not rows)
  `
  ALTER TABLE lane ADD COLUMN init TEXT;
  `,
  // 9: a task taken in by intake is counted against its day's quota by its list row (`counted` 1,
  // a column of the row intake writes anyway: bytes, not rows) instead of by an update of `usage`,
  // which now holds the other counts (admitted ahead, counted by `enter`, deleted after intake);
  // rows written before it keep 0, their count being in `usage` already (tenant-usage.ts). And a
  // waiting task taken in by intake is handed its slot by its list row alone (`handed_at`, with its
  // move to running) instead of that and an update of its lane row (tenant-slots.ts)
  `
  ALTER TABLE tasks ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN handed_at INTEGER;
  `,
];
