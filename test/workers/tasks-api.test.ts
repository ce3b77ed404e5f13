/**
 * The task API inside workerd: validation, creation, idempotency, lifecycle rules, subscriptions
 * and deletion. The runner is unreachable here on purpose (see vitest.config.ts).
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/objects/task-schema.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { call, createTask, openSocket } from './helpers.ts';

const AUDIO_TASK = { input: { url: 'http://127.0.0.1:1/clip.mp4' }, steps: [{ op: 'audio', format: 'mp3' }] };

async function waitStatus(id: string, status: string): Promise<TaskSnapshot> {
  for (let i = 0; i < 100; i++) {
    const s = (await (await call(`/api/tasks/${id}`)).json()) as TaskSnapshot;
    if (s.status === status) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${id} never became ${status}`);
}

async function errorOf(res: Response) {
  return {
    status: res.status,
    ...((await res.json()) as { error: { code: string; message: string; retryable: boolean } }),
  };
}

describe('POST /api/tasks validation', () => {
  const cases: [string, string, string][] = [
    ['malformed JSON', '{"input":', 'request.invalid_json'],
    [
      'unknown op',
      JSON.stringify({ input: { url: 'https://example.com/a.mp4' }, steps: [{ op: 'melt' }] }),
      'step.unknown_op',
    ],
    [
      'unknown option',
      JSON.stringify({ input: { url: 'https://example.com/a.mp4' }, steps: [{ op: 'audio', volume: 11 }] }),
      'step.unknown_option',
    ],
    [
      'bad option value',
      JSON.stringify({ input: { url: 'https://example.com/a.mp4' }, steps: [{ op: 'audio', format: 'aac' }] }),
      'step.invalid',
    ],
    [
      'bad height',
      JSON.stringify({ input: { url: 'https://example.com/a.mp4' }, steps: [{ op: 'transcode', height: 500 }] }),
      'step.invalid',
    ],
    ['no steps', JSON.stringify({ input: { url: 'https://example.com/a.mp4' }, steps: [] }), 'step.invalid'],
    ['missing input', JSON.stringify({ steps: [{ op: 'audio' }] }), 'input.missing'],
    ['odd input', JSON.stringify({ input: { file: '/etc/passwd' }, steps: [{ op: 'audio' }] }), 'input.invalid'],
    [
      'unknown field',
      JSON.stringify({ input: { url: 'https://example.com/a.mp4' }, steps: [{ op: 'audio' }], x: 1 }),
      'request.invalid',
    ],
    [
      'ftp URL',
      JSON.stringify({ input: { url: 'ftp://example.com/a.mp4' }, steps: [{ op: 'audio' }] }),
      'input.url.scheme',
    ],
    [
      'file URL',
      JSON.stringify({ input: { url: 'file:///etc/passwd' }, steps: [{ op: 'audio' }] }),
      'input.url.scheme',
    ],
    ['not a URL', JSON.stringify({ input: { url: 'hello' }, steps: [{ op: 'audio' }] }), 'input.url.invalid'],
    [
      'private URL',
      JSON.stringify({ input: { url: 'http://192.168.1.1/a.mp4' }, steps: [{ op: 'audio' }] }),
      'input.url.private',
    ],
    [
      'metadata URL',
      JSON.stringify({ input: { url: 'http://169.254.169.254/latest' }, steps: [{ op: 'audio' }] }),
      'input.url.private',
    ],
  ];
  for (const [name, body, code] of cases) {
    it(`${name} -> 400 ${code}`, async () => {
      const res = await call('/api/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const err = await errorOf(res);
      expect(err.status).toBe(400);
      expect(err.error.code).toBe(code);
      expect(err.error.retryable).toBe(false);
      expect(err.error.message.length).toBeGreaterThan(5);
    });
  }

  it('names the offending option', async () => {
    const res = await call('/api/tasks', {
      method: 'POST',
      body: JSON.stringify({
        input: { url: 'https://example.com/a.mp4' },
        steps: [{ op: 'thumbnail' }, { op: 'audio', volume: 11 }],
      }),
    });
    expect((await errorOf(res)).error.message).toMatch(/steps\[1\].*volume/);
  });
});

describe('creating a task', () => {
  it('answers 202 once the tenant took it in (queued, seq 1), and it starts from the hand-off when a slot was free', async () => {
    const { res, json } = await createTask(AUDIO_TASK);
    expect(res.status).toBe(202);
    expect(json.status).toBe('queued');
    expect(json.task).toMatchObject({ progress: 0, seq: 1, attempt: 1 });
    expect(json.task.steps).toEqual([
      { index: 0, op: 'audio', params: { format: 'mp3' }, status: 'pending', progress: 0, outputs: [] },
    ]);
    const snap = await waitStatus(json.id, 'running');
    expect(snap).toMatchObject({ id: json.id, attempt: 1, createdAt: json.task.createdAt });
  });

  it('returns the same task for the same Idempotency-Key, even when sent concurrently', async () => {
    const headers = { 'idempotency-key': `key-${crypto.randomUUID()}` };
    const results = await Promise.all(Array.from({ length: 8 }, () => createTask(AUDIO_TASK, headers)));
    const ids = new Set(results.map((r) => r.json.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.res.status === 202)).toHaveLength(1);
    expect(results.filter((r) => r.res.status === 200)).toHaveLength(7);
    const other = await call('/api/tasks', {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ ...AUDIO_TASK, steps: [{ op: 'probe' }] }),
    });
    expect((await errorOf(other)).error.code).toBe('task.exists');
  });

  it('stores the state and the event log in SQLite, numbered from 1', async () => {
    const { json } = await createTask(AUDIO_TASK);
    const stub = env.TASKS.getByName(json.id);
    await runInDurableObject(stub, (_obj, state) => {
      const task = state.storage.sql.exec<{ seq: number; tail: string }>('SELECT seq, tail FROM task').one();
      // the newest events are in the task row's tail (task-log.ts)
      const first = (JSON.parse(task.tail) as { seq: number; kind: string; status?: string }[])[0];
      expect(first).toMatchObject({ seq: 1, kind: 'status', status: 'queued' });
      // as read back (a row may hold several progress events): every seq from 1, none missing
      const events = new TaskStore(state.storage).eventsAfter(0);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(task.seq).toBe(events.length);
      const version = state.storage.sql.exec<{ v: number }>('SELECT schema_version AS v FROM task').one();
      expect(version.v).toBe(SCHEMA_VERSION);
    });
  });
});

describe('lifecycle', () => {
  it('a running task can be canceled, then retried; only failed or canceled tasks can be retried', async () => {
    const { json } = await createTask(AUDIO_TASK);
    await waitStatus(json.id, 'running');
    const canceled = await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
    expect(((await canceled.json()) as TaskSnapshot).status).toBe('canceled');
    const again = await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(200);
    const retried = await call(`/api/tasks/${json.id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(202);
    expect((await retried.json()) as TaskSnapshot).toMatchObject({ status: 'queued', attempt: 2 });
    await waitStatus(json.id, 'running');
    const illegal = await call(`/api/tasks/${json.id}/retry`, { method: 'POST' });
    expect(illegal.status).toBe(409);
    expect((await errorOf(illegal)).error.code).toBe('task.illegal_transition');
  });

  it('a busy runner is a retryable failure: retrying with a backoff, then failed with the reason', async () => {
    const { json } = await createTask({ ...AUDIO_TASK, input: { url: 'http://127.0.0.1:1/busy/clip.mp4' } });
    const stub = env.TASKS.getByName(json.id);
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) {
      await runDurableObjectAlarm(stub);
      await new Promise((r) => setTimeout(r, 30));
      const s = (await (await call(`/api/tasks/${json.id}`)).json()) as TaskSnapshot;
      if (seen.at(-1) !== s.status) seen.push(s.status);
      if (s.status === 'retrying') {
        expect(s.error?.code).toBe('runner.busy');
        expect(s.nextRetryAt).toBeGreaterThan(s.updatedAt - 1);
        expect(s.message).toMatch(/retrying in \d+ s/);
      }
      if (s.status === 'failed') {
        expect(s.attempt).toBe(3);
        expect(s.error).toMatchObject({ code: 'runner.busy' });
        break;
      }
    }
    expect(seen.at(-1)).toBe('failed');
    expect(seen).toContain('retrying');
    // every status change is in the log, numbered without gaps
    await runInDurableObject(stub, (_obj, state) => {
      const seqs = new TaskStore(state.storage).eventsAfter(0).map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    });
  });
});

describe('subscriptions', () => {
  it('a WebSocket gets the snapshot, the replay after `after`, then live events, and closes when the task ends', async () => {
    const { json } = await createTask(AUDIO_TASK);
    const running = await waitStatus(json.id, 'running');
    await new Promise((r) => setTimeout(r, 200));
    const seq = ((await (await call(`/api/tasks/${json.id}`)).json()) as TaskSnapshot).seq;
    expect(seq).toBeGreaterThanOrEqual(running.seq);
    const sock = await openSocket(json.id, 1);
    await sock.until(() => sock.messages.length >= seq);
    expect(sock.messages[0]).toMatchObject({ type: 'snapshot', snapshot: { id: json.id, status: 'running' } });
    const replayed = sock.messages.slice(1).map((m) => (m.type === 'event' ? m.event.seq : 0));
    expect(replayed).toEqual(Array.from({ length: seq - 1 }, (_, i) => i + 2));
    const progress = sock.messages.find((m) => m.type === 'event' && m.event.kind === 'progress');
    expect(progress).toMatchObject({ event: { stage: 'downloading', message: 'fetching', step: 0 } });
    await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
    await sock.until(() => sock.closed() !== null);
    const events = sock.messages.flatMap((m) => (m.type === 'event' ? [m.event] : []));
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 2));
    expect(events.at(-1)).toMatchObject({ kind: 'status', status: 'canceled' });
    expect(sock.closed()).toEqual({ code: 1000 });
  });

  it('plain GET on the events route explains how to subscribe', async () => {
    const { json } = await createTask(AUDIO_TASK);
    const res = await call(`/api/tasks/${json.id}/events`);
    expect(res.status).toBe(426);
  });

  it('an unknown task has no event stream', async () => {
    const res = await call('/api/tasks/aaaaaaaaaaaaaaaaaaaa/events', { headers: { upgrade: 'websocket' } });
    expect(res.status).toBe(404);
  });
});

describe('deleting', () => {
  it('forgets the task: it answers 404 afterwards', async () => {
    const { json } = await createTask(AUDIO_TASK);
    const del = await call(`/api/tasks/${json.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const res = await call(`/api/tasks/${json.id}`);
    expect(res.status).toBe(404);
    expect((await errorOf(res)).error.code).toBe('task.not_found');
  });
});
