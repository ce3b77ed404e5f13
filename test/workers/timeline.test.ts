/**
 * The run timeline in the snapshot, inside workerd against the scripted runner: a task that waited,
 * ran a step in the runner's `downloading` stage and was canceled shows each span in order, closed.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { applyMigrations } from '../../src/objects/migrations.ts';
import { RunTimeline } from '../../src/objects/run-timeline.ts';
import { MIGRATIONS, migrate } from '../../src/objects/task-schema.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { call, createTask } from './helpers.ts';

async function task(id: string): Promise<TaskSnapshot> {
  return (await (await call(`/api/tasks/${id}`)).json()) as TaskSnapshot;
}

async function until(id: string, ok: (s: TaskSnapshot) => boolean): Promise<TaskSnapshot> {
  const deadline = Date.now() + 8_000;
  for (;;) {
    const s = await task(id);
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(s.timeline)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('run timeline', () => {
  it('records the wait, the attempt, the step and its stages, and closes them when the task ends', async () => {
    const body = { input: { url: 'http://127.0.0.1:9/media.mp4' }, steps: [{ op: 'audio', format: 'mp3' }] };
    const { json } = await createTask(body);
    const running = await until(json.id, (s) => (s.timeline?.[0]?.steps[0]?.stages.length ?? 0) > 0);
    const a = running.timeline![0]!;
    expect(a.attempt).toBe(1);
    expect(a.waits.map((w) => w.name)).toEqual(['queued']);
    expect(a.endedAt).toBeNull();
    expect(a.steps[0]).toMatchObject({ index: 0, op: 'audio', endedAt: null, outcome: null });
    expect(a.steps[0]!.stages[0]!.name).toBe('downloading');
    expect(running.request).toEqual({ ...body, steps: [{ op: 'audio', format: 'mp3' }] });

    await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
    const done = (await task(json.id)).timeline![0]!;
    expect(done.outcome).toBe('canceled');
    expect(done.steps[0]!.outcome).toBe('canceled');
    const spans = [done, ...done.waits, done.steps[0]!, ...done.steps[0]!.stages];
    for (const s of spans) expect(s.endedAt).not.toBeNull();
    // in order: waiting, then running the step, its stage inside it
    expect(done.waits[0]!.endedAt!).toBeLessThanOrEqual(done.startedAt!);
    expect(done.steps[0]!.startedAt).toBeGreaterThanOrEqual(done.startedAt!);
    expect(done.steps[0]!.stages[0]!.startedAt).toBeGreaterThanOrEqual(done.steps[0]!.startedAt);
    expect(done.endedAt!).toBeGreaterThanOrEqual(done.steps[0]!.endedAt!);
  });

  it('gives each attempt its own entry, with the retry backoff as the wait before the second', async () => {
    const { json } = await createTask({
      input: { url: 'http://127.0.0.1:9/busy/media.mp4' },
      steps: [{ op: 'probe' }],
      maxAttempts: 2,
    });
    const done = await until(json.id, (s) => s.status === 'failed');
    const attempts = done.timeline!;
    expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'retrying'],
      [2, 'failed'],
    ]);
    expect(attempts[0]!.waits.map((w) => w.name)).toEqual(['queued']);
    expect(attempts[1]!.waits.map((w) => w.name)).toEqual(['retrying']);
    // the backoff ends when the second attempt starts
    expect(attempts[1]!.waits[0]!.endedAt).toBe(attempts[1]!.startedAt);
    expect(attempts[1]!.waits[0]!.startedAt).toBe(attempts[0]!.endedAt);
  });

  it('an object from before migration 7 (a row per span, step and output) still shows its timeline, request, steps and outputs', async () => {
    await runInDurableObject(env.TASKS.getByName('timeline-v6'), (_obj, state) => {
      const sql = state.storage.sql;
      // an object built by migrations 1-6, with what a task of that schema had written
      for (const t of ['task', 'events', 'schema_migrations']) sql.exec(`DROP TABLE IF EXISTS ${t}`);
      applyMigrations(state.storage, MIGRATIONS.slice(0, 6));
      sql.exec(
        `INSERT INTO task (id, tenant, status, max_attempts, attempts_per_run, input, body_hash, seq, created_at, updated_at)
         VALUES ('timeline-v6', 'local', 'running', 3, 3, '{"url":"http://x.test/a.mp4"}', 'h', 3, 1, 5)`,
      );
      sql.exec(`INSERT INTO steps (idx, op, params, status) VALUES (0, 'probe', '{"op":"probe"}', 'running')`);
      sql.exec(
        `INSERT INTO outputs (name, step, r2_key, size, content_type, created_at, expires_at)
         VALUES ('probe.json', 0, 'k/probe.json', 10, 'application/json', 4, 99)`,
      );
      const body = { input: { url: 'http://x.test/a.mp4' }, steps: [{ op: 'probe' }] };
      sql.exec('INSERT INTO timeline_request (one, body) VALUES (1, ?)', JSON.stringify(body));
      const span =
        'INSERT INTO timeline_spans (attempt, kind, step, name, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)';
      sql.exec(span, 1, 'wait', null, 'queued', 1, 2);
      sql.exec(span, 1, 'attempt', null, 'attempt', 2, null);
      sql.exec(span, 1, 'step', 0, 'probe', 3, null);
      sql.exec(span, 1, 'stage', 0, 'probing', 4, null);

      migrate(state.storage);
      const old = new RunTimeline(state.storage);
      expect(old.request()).toEqual(body);
      expect(old.timeline()).toEqual([
        {
          attempt: 1,
          waits: [{ name: 'queued', startedAt: 1, endedAt: 2 }],
          startedAt: 2,
          endedAt: null,
          outcome: null,
          steps: [
            {
              index: 0,
              op: 'probe',
              startedAt: 3,
              endedAt: null,
              outcome: null,
              stages: [{ name: 'probing', startedAt: 4, endedAt: null }],
            },
          ],
        },
      ]);
      // its next write moves the timeline into the task row, where a new instance reads it
      const store = new TaskStore(state.storage, old);
      // the migration copied its steps into the row
      expect(store.steps()).toEqual([
        { index: 0, op: 'probe', params: { op: 'probe' }, status: 'running', progress: 0 },
      ]);
      expect(store.outputs()).toEqual([
        {
          name: 'probe.json',
          step: 0,
          key: 'k/probe.json',
          size: 10,
          contentType: 'application/json',
          createdAt: 4,
          expiresAt: 99,
        },
      ]);
      store.appendEvent({ kind: 'step', step: 0, op: 'probe', status: 'succeeded' }, {}, 10);
      expect(sql.exec<{ t: string | null }>('SELECT timeline FROM task').one().t).not.toBeNull();
      const after = new RunTimeline(state.storage).timeline();
      expect(after[0]!.steps[0]).toMatchObject({ endedAt: 10, outcome: 'succeeded' });
      expect(after[0]!.steps[0]!.stages[0]!.endedAt).toBe(10);
      expect(new TaskStore(state.storage).steps()[0]).toMatchObject({ status: 'running' });
    });
  });
});
