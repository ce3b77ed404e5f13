/**
 * The task object's schema: a new object starts from BASELINE (task-schema.ts) instead of replaying
 * every migration; its tables must be the ones the migrations build, column for column, or an old
 * object and a new one would disagree about what a row holds.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { applyMigrations } from '../../src/objects/migrations.ts';
import {
  BASELINE,
  BASELINE_DIFFERS,
  BASELINE_OMITS,
  MIGRATIONS,
  SCHEMA_VERSION,
} from '../../src/objects/task-schema.ts';

type Column = { name: string; type: string; notnull: number; dflt_value: string | null; pk: number };

function tables(sql: SqlStorage): Record<string, Column[]> {
  const names = sql
    .exec<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name",
    )
    .toArray()
    .map((r) => r.name);
  const out: Record<string, Column[]> = {};
  for (const n of names) {
    out[n] = sql
      .exec<Column>('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY name', n)
      .toArray()
      .map((c) => ({ ...c }));
  }
  return out;
}

describe('task schema', () => {
  it('a new object starts at the current version with the tables the migrations build, minus the omitted ones', async () => {
    await runInDurableObject(env.TASKS.getByName('schema-baseline'), (_obj, state) => {
      const sql = state.storage.sql;
      const version = sql.exec<{ v: number }>('SELECT MAX(version) AS v FROM schema_migrations').one().v;
      expect(version).toBe(SCHEMA_VERSION);
      expect(BASELINE.version).toBeLessThanOrEqual(SCHEMA_VERSION);
      const fresh = tables(sql);
      for (const t of Object.keys(fresh)) sql.exec(`DROP TABLE ${t}`);
      applyMigrations(state.storage, MIGRATIONS);
      const replayed = tables(sql);
      for (const t of BASELINE_OMITS) {
        expect(fresh[t]).toBeUndefined();
        delete replayed[t];
      }
      const { table, column, pk } = BASELINE_DIFFERS;
      const col = replayed[table]?.find((c) => c.name === column);
      expect(col?.pk).not.toBe(pk);
      if (col) {
        col.pk = pk;
        col.notnull = 1;
      }
      expect(fresh).toEqual(replayed);
    });
  });
});
