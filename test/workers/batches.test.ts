/**
 * Batches inside workerd: validation that names the task and field, creation of every child, counts
 * and aggregate progress that follow the children, one failing child that leaves the others alone,
 * the batch's event stream (WebSocket and SSE, with replay), recovery from lost reports and failed
 * creates by the alarm, tenancy, and the archive's bytes.
 *
 * The scripted runner (fake-runner.ts) keeps a normal job running at 5 %, and fails `/busy/` inputs
 * (retryable, so the task fails after its attempts). A success with outputs is what the real runner
 * does (test/e2e/batches.test.ts); here it is a report the batch receives as a task would send it.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/lib/zip.ts';
import type { BatchEvent, BatchSnapshot, BatchWireMessage, ChildReport } from '../../src/protocol/batch.ts';
import { type ClipyardError, type RpcResult, unwrap } from '../../src/protocol/errors.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { call } from './helpers.ts';

const task = (path: string) => ({ input: { url: `http://127.0.0.1:1/${path}` }, steps: [{ op: 'audio' }] });

async function createBatch(body: unknown, headers: Record<string, string> = {}) {
  const res = await call('/api/batches', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return {
    res,
    json: (await res.json()) as {
      id: string;
      status: string;
      created: boolean;
      taskIds: string[];
      links: Record<string, string>;
      batch: BatchSnapshot;
      error?: { code: string; message: string };
    },
  };
}

async function batchSnapshot(id: string): Promise<BatchSnapshot> {
  const res = await call(`/api/batches/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as BatchSnapshot;
}

async function waitBatch(id: string, pred: (s: BatchSnapshot) => boolean, what: string): Promise<BatchSnapshot> {
  let last: BatchSnapshot | null = null;
  for (let i = 0; i < 200; i++) {
    last = await batchSnapshot(id);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`batch never got to: ${what}; last ${JSON.stringify(last)}`);
}

async function batchEvents(id: string, after = 0): Promise<BatchEvent[]> {
  return runInDurableObject(env.BATCHES.getByName(id), (_obj, state) =>
    state.storage.sql
      .exec<{ seq: number; at: number; body: string }>(
        'SELECT seq, at, body FROM events WHERE seq > ? ORDER BY seq',
        after,
      )
      .toArray()
      .map((r) => ({ ...JSON.parse(r.body), seq: r.seq, at: r.at }) as BatchEvent),
  );
}

/** A WebSocket to the batch's events that collects messages, with a timeout on every wait. */
async function openBatchSocket(id: string, after = 0) {
  const res = await call(`/api/batches/${id}/events?after=${after}`, { headers: { upgrade: 'websocket' } });
  const ws = res.webSocket;
  if (!ws) throw new Error(`no WebSocket (status ${res.status})`);
  ws.accept();
  const messages: BatchWireMessage[] = [];
  let closed: number | null = null;
  ws.addEventListener('message', (e) => messages.push(JSON.parse(String(e.data)) as BatchWireMessage));
  ws.addEventListener('close', (e) => {
    closed = e.code;
  });
  async function until(pred: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`socket wait timed out; got ${JSON.stringify(messages)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const events = () => messages.flatMap((m) => (m.type === 'event' ? [m.event] : []));
  return { messages, events, closed: () => closed, until };
}

/** The entries of a zip (stored entries), read through its central directory. */
function readZip(bytes: Uint8Array): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = bytes.length - 22;
  expect(view.getUint32(eocd, true)).toBe(0x06054b50);
  const count = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++) {
    expect(view.getUint32(at, true)).toBe(0x02014b50);
    const crc = view.getUint32(at + 16, true);
    const size = view.getUint32(at + 24, true);
    const nameLen = view.getUint16(at + 28, true);
    const extraLen = view.getUint16(at + 30, true);
    const commentLen = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLen));
    const dataAt = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const data = bytes.subarray(dataAt, dataAt + size);
    expect(crc32(data)).toBe(crc);
    out.set(name, data);
    at += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

describe('POST /api/batches validation', () => {
  it('refuses more than 100 tasks with batch.too_many, and an empty list', async () => {
    const many = await createBatch({ tasks: Array.from({ length: 101 }, () => task('a.mp4')) });
    expect(many.res.status).toBe(400);
    expect(many.json.error).toMatchObject({ code: 'batch.too_many' });
    expect(many.json.error!.message).toMatch(/101.*100/);
    const none = await createBatch({ tasks: [] });
    expect(none.res.status).toBe(400);
    expect(none.json.error!.code).toBe('request.invalid');
    const odd = await createBatch({ tasks: [task('a.mp4')], colour: 'red' });
    expect(odd.json.error!.code).toBe('request.invalid');
  });

  it("names the task and the field, with the code a single task's error has", async () => {
    const tasks = [task('a.mp4'), task('b.mp4'), task('c.mp4'), { input: { url: 'https://example.com/d.mp4' } }];
    tasks[3] = { ...tasks[3]!, steps: [{ op: 'melt' }] } as (typeof tasks)[0];
    const badOp = await createBatch({ tasks });
    expect(badOp.res.status).toBe(400);
    expect(badOp.json.error!.code).toBe('step.unknown_op');
    expect(badOp.json.error!.message).toMatch(/^tasks\[3\]\.steps\[0\]\.op: unknown op/);

    const badUrl = await createBatch({ tasks: [task('a.mp4'), { ...task('x'), input: { url: 'http://10.0.0.1/x' } }] });
    expect(badUrl.json.error!.code).toBe('input.url.private');
    expect(badUrl.json.error!.message).toMatch(/^tasks\[1\]\.input\.url/);

    const missing = await createBatch({ tasks: [{ steps: [{ op: 'audio' }] }] });
    expect(missing.json.error!.code).toBe('input.missing');
    expect(missing.json.error!.message).toMatch(/^tasks\[0\]\.input/);

    const upload = await createBatch({
      tasks: [{ input: { upload: 'aaaaaaaaaaaaaaaaaaaa' }, steps: [{ op: 'audio' }] }],
    });
    expect(upload.json.error!.code).toBe('input.invalid');
    expect(upload.json.error!.message).toMatch(/^tasks\[0\]\.input: no upload/);
  });

  it('unknown batch ids answer 404 batch.not_found; so does a batch of another tenant', async () => {
    for (const id of ['aaaaaaaaaaaaaaaaaaaa', 'not-an-id']) {
      const res = await call(`/api/batches/${id}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('batch.not_found');
    }
    const { json } = await createBatch({ tasks: [task('a.mp4')] });
    const stub = env.BATCHES.getByName(json.id);
    const refusal = async (p: Promise<unknown>) =>
      unwrap(p as Promise<RpcResult<unknown>>).then(
        () => 'answered',
        (e: unknown) => `${(e as ClipyardError).code}: ${String(e)}`,
      );
    expect(await refusal(stub.get('someone-else'))).toMatch(/batch\.not_found/);
    expect(await refusal(stub.archive('someone-else'))).toMatch(/batch\.not_found/);
    const res = await stub.fetch(
      new Request('http://x/events', { headers: { upgrade: 'websocket', 'x-clipyard-tenant': 'someone-else' } }),
    );
    expect(res.status).toBe(404);
  });
});

describe('a batch', () => {
  it('creates every child at once; one failing child leaves the others running; counts and progress follow', async () => {
    const { res, json } = await createBatch({ tasks: [task('a.mp4'), task('b.mp4'), task('busy/c.mp4')], label: 'x' });
    expect(res.status).toBe(202);
    expect(json.id).toMatch(/^[a-z2-7]{20}$/);
    expect(json.taskIds).toHaveLength(3);
    expect(new Set(json.taskIds).size).toBe(3);
    expect(json.links.archive).toContain(`/api/batches/${json.id}/archive`);
    expect(json.batch).toMatchObject({ id: json.id, status: 'running', total: 3, label: 'x' });
    for (const [i, taskId] of json.taskIds.entries()) {
      const t = (await (await call(`/api/tasks/${taskId}`)).json()) as TaskSnapshot;
      expect(t.id).toBe(taskId);
      expect(t.input).toEqual(task(['a.mp4', 'b.mp4', 'busy/c.mp4'][i]!).input);
    }

    const s = await waitBatch(
      json.id,
      (b) =>
        b.counts.failed === 1 &&
        b.counts.running === 2 &&
        b.children.every((c) => c.progress > 0 || c.status === 'failed'),
      'one failed, two running with progress',
    );
    expect(s.status).toBe('running');
    expect(s.children[2]).toMatchObject({ status: 'failed', error: { code: 'runner.busy' } });
    expect(s.children[2]!.message).toMatch(/^failed/);
    expect(s.children[0]).toMatchObject({ status: 'running', progress: 5, error: null });
    expect(s.progress).toBeCloseTo((5 + 5 + 100) / 3, 0);

    const events = await batchEvents(json.id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]).toMatchObject({ kind: 'status', status: 'running' });
    const failed = events.find((e) => e.kind === 'child' && e.status === 'failed');
    expect(failed).toMatchObject({ index: 2, id: json.taskIds[2], error: { code: 'runner.busy' } });

    const archive = await call(`/api/batches/${json.id}/archive`);
    expect(archive.status).toBe(409);
    expect(((await archive.json()) as { error: { code: string } }).error.code).toBe('batch.not_finished');

    for (const id of json.taskIds.slice(0, 2)) await call(`/api/tasks/${id}/cancel`, { method: 'POST' });
    const done = await waitBatch(json.id, (b) => b.status !== 'running', 'finished');
    expect(done).toMatchObject({ status: 'failed', progress: 100 });
    expect(done.counts).toMatchObject({ canceled: 2, failed: 1, running: 0 });
    expect(done.finishedAt).toBeGreaterThan(0);
  });

  it('streams snapshot, replay after a seq, child events, a final 100 and the outcome; then closes', async () => {
    const { json } = await createBatch({ tasks: [task('a.mp4'), task('b.mp4')] });
    const [first, second] = json.taskIds as [string, string];
    await waitBatch(json.id, (b) => b.counts.running === 2, 'both running');
    const ws = await openBatchSocket(json.id, 1);
    await ws.until(() => ws.messages.length >= 1);
    expect(ws.messages[0]!.type).toBe('snapshot');
    expect(ws.events()[0]?.seq).toBe(2);

    // The first child ends canceled; the second succeeds with an output (as the task would report it).
    await call(`/api/tasks/${first}/cancel`, { method: 'POST' });
    await ws.until(() => ws.events().some((e) => e.kind === 'child' && e.id === first && e.status === 'canceled'));
    const key = `tasks/${second}/audio.mp3`;
    const bytes = new TextEncoder().encode('pretend mp3 '.repeat(5_000));
    await env.BUCKET.put(key, bytes);
    const stub = env.BATCHES.getByName(json.id);
    const before = await unwrap(stub.get('local'));
    const success: ChildReport = {
      taskId: second,
      status: 'succeeded',
      progress: 100,
      message: 'done',
      error: null,
      seq: 1_000,
      outputs: [{ name: 'audio.mp3', key, size: bytes.length, contentType: 'audio/mpeg' }],
    };
    await stub.childReport(success);
    await ws.until(() => ws.closed() !== null);
    expect(ws.closed()).toBe(1000);
    const events = ws.events();
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 2));
    const tail = events.slice(-3);
    expect(tail[0]).toMatchObject({ kind: 'child', id: second, status: 'succeeded' });
    expect(tail[1]).toMatchObject({ kind: 'progress', progress: 100 });
    expect(tail[2]).toMatchObject({ kind: 'status', status: 'partial', message: '1 of 2 succeeded, 1 canceled' });
    expect(before.status).toBe('running');
    // The real task's own later reports are older than the success: they change nothing.
    await call(`/api/tasks/${second}/cancel`, { method: 'POST' });

    // A report that arrives late changes nothing.
    await stub.childReport({ ...success, status: 'running', seq: 3 });
    expect((await unwrap(stub.get('local'))).children[1]!.status).toBe('succeeded');

    // SSE after the end: the snapshot and the replay, then the stream ends.
    const sse = await call(`/api/batches/${json.id}/events?after=${tail[0]!.seq - 1}`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    const text = await sse.text();
    expect(text.match(/^event: snapshot$/gm)).toHaveLength(1);
    expect(text.match(/^event: event$/gm)).toHaveLength(3);
    expect(text).toContain(`id: ${tail[2]!.seq}\n`);

    // The archive: the output under the child's folder, and a manifest of how every child ended.
    const archive = await call(`/api/batches/${json.id}/archive`);
    expect(archive.status).toBe(200);
    expect(archive.headers.get('content-type')).toBe('application/zip');
    expect(archive.headers.get('content-disposition')).toContain(`batch-${json.id}.zip`);
    const files = readZip(new Uint8Array(await archive.arrayBuffer()));
    expect([...files.keys()]).toEqual([`002-${second}/audio.mp3`, 'manifest.json']);
    expect(files.get(`002-${second}/audio.mp3`)).toEqual(bytes);
    const manifest = JSON.parse(new TextDecoder().decode(files.get('manifest.json')));
    expect(manifest).toMatchObject({ batch: json.id, status: 'partial' });
    expect(manifest.tasks[0]).toMatchObject({ id: first, status: 'canceled', files: [] });
    expect(manifest.tasks[1]).toMatchObject({ id: second, status: 'succeeded', files: [`002-${second}/audio.mp3`] });

    // An output that expired meanwhile is left out and listed as missing.
    await env.BUCKET.delete(key);
    const again = readZip(new Uint8Array(await (await call(`/api/batches/${json.id}/archive`)).arrayBuffer()));
    expect([...again.keys()]).toEqual(['manifest.json']);
    expect(JSON.parse(new TextDecoder().decode(again.get('manifest.json'))).tasks[1].missing).toEqual([
      `002-${second}/audio.mp3`,
    ]);
  });

  it('throttles progress: a burst of child reports makes few progress events', async () => {
    // One child: the real task's own reports carry lower seqs than these, so they change nothing.
    const { json } = await createBatch({ tasks: [task('a.mp4')] });
    const stub = env.BATCHES.getByName(json.id);
    const fromSeq = (await unwrap(stub.get('local'))).seq;
    const t0 = Date.now();
    for (let i = 1; i <= 50; i++) {
      await stub.childReport({
        taskId: json.taskIds[0]!,
        status: 'running',
        progress: i,
        message: 'working',
        error: null,
        seq: 10_000 + i,
        outputs: [],
      });
    }
    await new Promise((r) => setTimeout(r, 400));
    const elapsedMs = Date.now() - t0;
    const progress = (await batchEvents(json.id, fromSeq)).filter((e) => e.kind === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    // at most one per 250 ms interval, plus the leading and trailing ones (however slow the machine)
    expect(progress.length).toBeLessThanOrEqual(Math.ceil(elapsedMs / 250) + 2);
    expect(progress.length).toBeLessThan(25);
    // the trailing value always arrives
    expect(progress.at(-1)).toMatchObject({ progress: 50 });
    expect(await unwrap(stub.get('local'))).toMatchObject({ progress: 50, seq: progress.at(-1)!.seq });
    for (const id of json.taskIds) await call(`/api/tasks/${id}/cancel`, { method: 'POST' });
  });

  it('converges without reports: the alarm asks quiet children, and creates children whose create failed', async () => {
    const { json } = await createBatch({ tasks: [task('a.mp4'), task('b.mp4')] });
    const stub = env.BATCHES.getByName(json.id);
    await waitBatch(json.id, (b) => b.counts.running === 2, 'both running');
    // Lose what the batch heard from child 0, and pretend child 1 was never created.
    await runInDurableObject(stub, (_obj, state) => {
      state.storage.sql.exec(
        "UPDATE children SET status = 'queued', task_seq = 0, progress = 0, checked_at = 0 WHERE idx = 0",
      );
      state.storage.sql.exec('UPDATE children SET created = 0 WHERE idx = 1');
    });
    await call(`/api/tasks/${json.taskIds[0]}/cancel`, { method: 'POST' });
    await runInDurableObject(stub, (_obj, state) => {
      // the cancel's own report is lost too
      state.storage.sql.exec("UPDATE children SET status = 'queued', task_seq = 0, checked_at = 0 WHERE idx = 0");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const s = await unwrap(stub.get('local'));
    expect(s.children[0]).toMatchObject({ status: 'canceled' });
    expect(s.children[1]).toMatchObject({ status: 'running' });
    const created = await runInDurableObject(stub, (_obj, state) =>
      state.storage.sql.exec<{ n: number }>('SELECT SUM(created) AS n FROM children').one(),
    );
    expect(created.n).toBe(2);
    // still one task per child: the re-create found the existing task
    const t1 = (await (await call(`/api/tasks/${json.taskIds[1]}`)).json()) as TaskSnapshot;
    expect(t1.status).toBe('running');
    await call(`/api/tasks/${json.taskIds[1]}/cancel`, { method: 'POST' });
    await waitBatch(json.id, (b) => b.status === 'canceled', 'canceled');
    // Every child finished: the alarm stops.
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });

  it('a child whose task cannot be created fails with the reason, and the batch still finishes', async () => {
    const { json } = await createBatch({ tasks: [task('a.mp4')] });
    const stub = env.BATCHES.getByName(json.id);
    await waitBatch(json.id, (b) => b.counts.running === 1, 'running');
    await call(`/api/tasks/${json.taskIds[0]}/cancel`, { method: 'POST' });
    // Point the child at an id that already holds a different task: its create is refused for good.
    const other = (await (
      await call('/api/tasks', { method: 'POST', body: JSON.stringify(task('other.mp4')) })
    ).json()) as { id: string };
    await runInDurableObject(stub, (_obj, state) => {
      state.storage.sql.exec(
        "UPDATE children SET created = 0, status = 'queued', task_seq = 0, task_id = ? WHERE idx = 0",
        other.id,
      );
      state.storage.sql.exec("UPDATE batch SET status = 'running', finished_at = NULL");
      return state.storage.setAlarm(Date.now());
    });
    await runDurableObjectAlarm(stub);
    const s = await unwrap(stub.get('local'));
    expect(s).toMatchObject({ status: 'failed', progress: 100 });
    expect(s.children[0]).toMatchObject({ status: 'failed', error: { code: 'task.exists' } });
    // Nothing left to do: no alarm keeps trying.
    expect(await runDurableObjectAlarm(stub)).toBe(false);
    await call(`/api/tasks/${other.id}/cancel`, { method: 'POST' });
  });

  it('cancel stops every unfinished child; a finished child keeps its outcome', async () => {
    const { json } = await createBatch({ tasks: [task('a.mp4'), task('busy/b.mp4'), task('c.mp4')] });
    await waitBatch(json.id, (b) => b.counts.failed === 1 && b.counts.running === 2, 'one failed, two running');
    const res = await call(`/api/batches/${json.id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    const s = (await res.json()) as BatchSnapshot;
    expect(s.children.map((c) => c.status)).toEqual(['canceled', 'failed', 'canceled']);
    expect(s).toMatchObject({ status: 'failed', progress: 100 });
    const t0 = (await (await call(`/api/tasks/${json.taskIds[0]}`)).json()) as TaskSnapshot;
    expect(t0.status).toBe('canceled');
    // again: nothing left to cancel, same answer
    const again = (await (await call(`/api/batches/${json.id}/cancel`, { method: 'POST' })).json()) as BatchSnapshot;
    expect(again.children.map((c) => c.status)).toEqual(['canceled', 'failed', 'canceled']);
    expect((await call('/api/batches/aaaaaaaaaaaaaaaaaaaa/cancel', { method: 'POST' })).status).toBe(404);
  });

  it('a full batch of 100: every task created with its own id, then all canceled at once', async () => {
    const t0 = Date.now();
    const { res, json } = await createBatch({ tasks: Array.from({ length: 100 }, (_, i) => task(`v${i}.mp4`)) });
    const createdMs = Date.now() - t0;
    expect(res.status).toBe(202);
    expect(new Set(json.taskIds).size).toBe(100);
    expect(json.batch.total).toBe(100);
    const created = await runInDurableObject(env.BATCHES.getByName(json.id), (_obj, state) =>
      state.storage.sql.exec<{ n: number }>('SELECT SUM(created) AS n FROM children').one(),
    );
    expect(created.n).toBe(100);
    const last = (await (await call(`/api/tasks/${json.taskIds[99]}`)).json()) as TaskSnapshot;
    expect(last.input).toEqual(task('v99.mp4').input);
    const canceled = (await (await call(`/api/batches/${json.id}/cancel`, { method: 'POST' })).json()) as BatchSnapshot;
    expect(canceled).toMatchObject({ status: 'canceled', progress: 100 });
    expect(canceled.counts.canceled).toBe(100);
    console.log(`batch of 100: created in ${createdMs} ms, canceled in ${Date.now() - t0 - createdMs} ms`);
  }, 60_000);

  it('a deleted child counts as canceled once the batch notices', async () => {
    const { json } = await createBatch({ tasks: [task('a.mp4')] });
    await waitBatch(json.id, (b) => b.counts.running === 1, 'running');
    const stub = env.BATCHES.getByName(json.id);
    expect((await call(`/api/tasks/${json.taskIds[0]}`, { method: 'DELETE' })).status).toBe(204);
    await runInDurableObject(stub, (_obj, state) => {
      state.storage.sql.exec('UPDATE children SET checked_at = 0');
    });
    await runDurableObjectAlarm(stub);
    const s = await unwrap(stub.get('local'));
    expect(s).toMatchObject({ status: 'canceled' });
    expect(s.children[0]!.message).toMatch(/deleted/);
  });

  it('Idempotency-Key: the same batch for the same key and body; 409 for another body; quota counted once', async () => {
    const headers = { 'idempotency-key': `batch-${crypto.randomUUID()}` };
    const body = { tasks: [task('a.mp4'), task('b.mp4')] };
    const tenant = env.TENANTS.getByName('local');
    const usedBefore = (await tenant.usage()).tasks;
    const [a, b] = await Promise.all([createBatch(body, headers), createBatch(body, headers)]);
    expect((await tenant.usage()).tasks - usedBefore).toBe(2);
    expect(a.json.id).toBe(b.json.id);
    expect(a.json.taskIds).toEqual(b.json.taskIds);
    expect([a.res.status, b.res.status].sort()).toEqual([200, 202]);
    const other = await createBatch({ tasks: [task('c.mp4')] }, headers);
    expect(other.res.status).toBe(409);
    expect(other.json.error!.code).toBe('batch.exists');
    for (const id of a.json.taskIds) await call(`/api/tasks/${id}/cancel`, { method: 'POST' });
  });
});
