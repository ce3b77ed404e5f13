/**
 * A batch as a user meets it: ten links at once, one of them not media. Nine succeed and one fails
 * with a clear error, the combined progress bar reaches 100, the batch's WebSocket tells each
 * child's status change and the outcome, and one zip of every output downloads and passes
 * `unzip -t`. Real runner, real ffmpeg, wrangler dev.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BatchEvent, BatchSnapshot, BatchWireMessage } from '../../src/protocol/batch.ts';
import { api, baseUrl, ffprobeBytes, mediaUrl, snapshot } from './client.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-batch-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BAD_INDEX = 6;

/**
 * Subscribe like a client that keeps its place: on a drop (anything but the server's normal close
 * after the end) it reconnects with `after=<last seq>` and carries on.
 */
function watchBatch(id: string) {
  const snapshots: BatchSnapshot[] = [];
  const events: BatchEvent[] = [];
  let reconnects = 0;
  const closed = new Promise<number>((resolve) => {
    const connect = () => {
      const after = events.at(-1)?.seq ?? 0;
      const ws = new WebSocket(`${baseUrl().replace(/^http/, 'ws')}/api/batches/${id}/events?after=${after}`);
      let done = false;
      const ended = (code: number) => {
        if (done) return;
        done = true;
        if (code === 1000 || reconnects >= 5) resolve(code);
        else {
          reconnects++;
          setTimeout(connect, 250);
        }
      };
      ws.addEventListener('message', (m) => {
        const msg = JSON.parse(String(m.data)) as BatchWireMessage;
        if (msg.type === 'snapshot') snapshots.push(msg.snapshot);
        else events.push(msg.event);
      });
      ws.addEventListener('close', (e) => ended(e.code));
      ws.addEventListener('error', () => ended(-1));
    };
    connect();
  });
  return { snapshots, events, closed, reconnects: () => reconnects };
}

async function getBatch(id: string): Promise<BatchSnapshot> {
  const res = await api(`/api/batches/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as BatchSnapshot;
}

describe('a batch of ten links, one of them bad', () => {
  it('nine succeed, one fails clearly, the bar reaches 100, and the archive is a valid zip', async () => {
    const tasks = Array.from({ length: 10 }, (_, i) => ({
      input: { url: mediaUrl(i === BAD_INDEX ? 'notmedia.txt' : 'clip.mp4') },
      steps: [{ op: 'audio', format: 'mp3' }],
      label: `clip ${i + 1}`,
    }));
    const t0 = Date.now();
    const res = await api('/api/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tasks, label: 'ten clips' }),
    });
    expect(res.status).toBe(202);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const created = (await res.json()) as { id: string; taskIds: string[]; links: { archive: string } };
    expect(created.taskIds).toHaveLength(10);

    const w = watchBatch(created.id);
    expect(await w.closed).toBe(1000);
    expect(w.snapshots).toHaveLength(1 + w.reconnects());

    // The log, as the socket delivered it: gap-free, the bar never going back, each child's story.
    const events = w.events;
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    let last = -1;
    for (const e of events) {
      if (e.kind !== 'progress') continue;
      expect(e.progress).toBeGreaterThanOrEqual(last);
      last = e.progress;
    }
    expect(last).toBe(100);
    const progressValues = events.flatMap((e) => (e.kind === 'progress' ? [e.progress] : []));
    expect(progressValues.some((p) => p > 0 && p < 100)).toBe(true);
    const failed = events.filter((e) => e.kind === 'child' && e.status === 'failed');
    expect(failed.length, `failed children: ${JSON.stringify(failed)}`).toBe(1);
    const end = events.at(-1)!;
    expect(end).toMatchObject({ kind: 'status', status: 'partial', message: '9 of 10 succeeded, 1 failed' });
    expect(events.at(-2)).toMatchObject({ kind: 'progress', progress: 100 });
    for (const [i, id] of created.taskIds.entries()) {
      const story = events.flatMap((e) => (e.kind === 'child' && e.id === id ? [e.status] : []));
      expect(story.at(-1)).toBe(i === BAD_INDEX ? 'failed' : 'succeeded');
    }
    const failure = events.find((e) => e.kind === 'child' && e.status === 'failed');
    expect(failure).toMatchObject({ index: BAD_INDEX, error: { code: 'media.unsupported', retryable: false } });

    // The snapshot agrees, and the failed child's own task says the same.
    const s = await getBatch(created.id);
    expect(s).toMatchObject({ status: 'partial', progress: 100, total: 10, seq: end.seq });
    expect(s.counts).toMatchObject({ succeeded: 9, failed: 1, queued: 0, running: 0, retrying: 0 });
    const bad = s.children[BAD_INDEX]!;
    expect(bad.error).toMatchObject({ code: 'media.unsupported', retryable: false });
    expect(bad.error!.message.length).toBeGreaterThan(10);
    expect((await snapshot(bad.id)).error).toMatchObject({ code: 'media.unsupported' });
    for (const c of s.children.filter((c) => c.index !== BAD_INDEX)) {
      expect(c).toMatchObject({ status: 'succeeded', progress: 100, error: null });
      expect(c.outputs.map((o) => o.name)).toEqual(['audio.mp3']);
    }

    // Replay over SSE from the middle: exactly the rest of the log.
    const from = Math.floor(end.seq / 2);
    const sse = await api(`/api/batches/${created.id}/events?after=${from}`, {
      headers: { accept: 'text/event-stream' },
    });
    const ids = [...(await sse.text()).matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(Array.from({ length: end.seq - from }, (_, i) => from + 1 + i));

    // One zip of every output, streamed; unzip checks every CRC.
    const zipRes = await fetch(created.links.archive);
    expect(zipRes.status).toBe(200);
    expect(zipRes.headers.get('content-type')).toBe('application/zip');
    expect(zipRes.headers.get('content-disposition')).toContain('ten clips.zip');
    const file = path.join(dir, 'batch.zip');
    writeFileSync(file, new Uint8Array(await zipRes.arrayBuffer()));
    expect(execFileSync('unzip', ['-t', file]).toString()).toContain('No errors detected');
    const names = execFileSync('unzip', ['-Z1', file]).toString().trim().split('\n');
    const expected = tasks.flatMap((_, i) =>
      i === BAD_INDEX ? [] : [`${String(i + 1).padStart(3, '0')}-clip ${i + 1}/audio.mp3`],
    );
    expect(names).toEqual([...expected, 'manifest.json']);
    const mp3 = execFileSync('unzip', ['-p', file, expected[0]!], { maxBuffer: 1 << 26 });
    const probe = ffprobeBytes(new Uint8Array(mp3), 'mp3');
    expect(probe.streams[0]!.codec_name).toBe('mp3');
    expect(Math.abs(Number(probe.format.duration) - 10)).toBeLessThan(0.5);
    const manifest = JSON.parse(execFileSync('unzip', ['-p', file, 'manifest.json']).toString());
    expect(manifest.status).toBe('partial');
    expect(manifest.tasks[BAD_INDEX]).toMatchObject({ status: 'failed', error: { code: 'media.unsupported' } });
    expect(manifest.tasks[0].files).toEqual([expected[0]]);
  });
});
