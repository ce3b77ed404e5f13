/**
 * The vertical slice as a user meets it: paste a URL, watch live progress over a WebSocket (and SSE),
 * download the result through a signed link, and get clear errors for bad input.
 */
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { signLink } from '../../src/lib/links.ts';
import type { TaskEvent, TaskSnapshot } from '../../src/protocol/task.ts';
import {
  api,
  baseUrl,
  createTask,
  devLinkSecret,
  downloadOutput,
  ffprobeBytes,
  mediaUrl,
  seqs,
  snapshot,
  waitForStatus,
  watch,
} from './client.ts';

function expectGapFree(events: readonly TaskEvent[], from = 1): void {
  expect(seqs(events)).toEqual(Array.from({ length: events.length }, (_, i) => i + from));
}

function expectMonotonicProgress(events: readonly TaskEvent[]): void {
  let last = -1;
  for (const e of events) {
    if (e.kind !== 'progress') continue;
    expect(e.progress).toBeGreaterThanOrEqual(last);
    expect(e.progress).toBeLessThanOrEqual(100);
    last = e.progress;
  }
}

describe('paste a URL, get an mp3', () => {
  it('answers at once, streams numbered progress, and serves the mp3 through a signed link', async () => {
    const t0 = Date.now();
    const created = await createTask({ input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'audio', format: 'mp3' }] });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(created.id).toMatch(/^[a-z2-7]{20}$/);
    // the tenant took it in: the answer is its first state, and a free slot starts it right after
    expect(created.status).toBe('queued');

    const w = watch(created.id);
    const { code } = await w.closed;
    expect(code).toBe(1000);
    expect(w.snapshots).toHaveLength(1);
    const events = w.events;
    expectGapFree(events);
    expectMonotonicProgress(events);
    const statuses = events.filter((e) => e.kind === 'status').map((e) => (e as { status: string }).status);
    expect(statuses[0]).toBe('queued');
    expect(statuses).toContain('running');
    expect(statuses.at(-1)).toBe('succeeded');
    const stages = new Set(events.flatMap((e) => (e.kind === 'progress' ? [e.stage] : [])));
    expect(stages.has('downloading')).toBe(true);
    expect(stages.has('extracting')).toBe(true);
    const download = events.find((e) => e.kind === 'progress' && e.stage === 'downloading' && e.totalBytes);
    expect(download).toBeTruthy();
    const output = events.find((e) => e.kind === 'output');
    expect(output && output.kind === 'output' && output.output.name).toBe('audio.mp3');

    const snap = await snapshot(created.id);
    expect(snap.status).toBe('succeeded');
    expect(snap.progress).toBe(100);
    expect(snap.seq).toBe(events.at(-1)!.seq);
    expect(snap.outputs.map((o) => o.name)).toEqual(['audio.mp3']);
    expect(snap.outputs[0]!.url).toMatch(/\/files\/.+\?exp=\d+&sig=/);

    const { res, bytes, link } = await downloadOutput(created.id, 'audio.mp3');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/mpeg');
    expect(res.headers.get('content-disposition')).toContain('filename="audio.mp3"');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    const probe = ffprobeBytes(bytes, 'mp3');
    expect(probe.streams[0]!.codec_name).toBe('mp3');
    expect(Math.abs(Number(probe.format.duration) - 10)).toBeLessThan(0.5);

    // Range requests
    const ranged = await fetch(link, { headers: { range: 'bytes=0-99' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 0-99/${bytes.length}`);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(bytes.slice(0, 100));

    // A tampered link and an expired one are refused
    const tampered = link.replace(/sig=([^&])/, (_m, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`);
    const bad = await fetch(tampered);
    expect(bad.status).toBe(403);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('link.invalid');
    const key = decodeURIComponent(new URL(link).pathname.replace(/^\/files\//, ''));
    const expired = await signLink(devLinkSecret(), key, 1, Date.now() - 10_000);
    const old = await fetch(`${baseUrl()}${expired.path}`);
    expect(old.status).toBe(403);
    expect(((await old.json()) as { error: { code: string } }).error.code).toBe('link.expired');
    const retarget = await fetch(link.replace('audio.mp3', 'other.mp3'));
    expect(retarget.status).toBe(403);

    // Reconnecting with after=<seq> yields exactly the missed events
    const k = Math.floor(events.length / 2);
    const again = watch(created.id, k);
    await again.ended;
    expect(seqs(again.events)).toEqual(seqs(events).slice(k));
    expect(again.events).toEqual(events.slice(k));

    // The same stream over SSE
    const sse = await api(`/api/tasks/${created.id}/events?after=0`, { headers: { accept: 'text/event-stream' } });
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    const text = await sse.text();
    const frames = text.split('\n\n').filter((f) => f.includes('event: event'));
    expect(frames.length).toBe(events.length);
    expect(text.startsWith('event: snapshot')).toBe(true);
  });
});

describe('every op through the public API', () => {
  async function run(steps: unknown[]): Promise<TaskSnapshot> {
    const { id } = await createTask({ input: { url: mediaUrl('clip.mp4') }, steps });
    return waitForStatus(id, ['succeeded', 'failed'], 90_000);
  }

  it('probe returns ffprobe JSON', async () => {
    const s = await run([{ op: 'probe' }]);
    expect(s.status).toBe('succeeded');
    const { bytes } = await downloadOutput(s.id, 'probe.json');
    const json = JSON.parse(new TextDecoder().decode(bytes)) as { streams: { codec_type: string }[] };
    expect(json.streams.map((x) => x.codec_type).sort()).toEqual(['audio', 'video']);
  });

  it('download keeps the file; transcode to 480p mp4; thumbnail of the 480p copy', async () => {
    const s = await run([
      { op: 'download' },
      { op: 'transcode', height: 480 },
      { op: 'thumbnail', time: 2, width: 320 },
    ]);
    expect(s.status, s.error?.message).toBe('succeeded');
    expect(s.steps.map((x) => x.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const names = s.outputs.map((o) => o.name).sort();
    expect(names).toEqual(['download.mp4', 'thumbnail.jpg', 'video.mp4']);
    const video = ffprobeBytes((await downloadOutput(s.id, 'video.mp4')).bytes, 'mp4');
    const v = video.streams.find((x) => x.codec_type === 'video')!;
    expect(v.codec_name).toBe('h264');
    expect(v.height).toBe(480);
    expect(Math.abs(Number(video.format.duration) - 10)).toBeLessThan(0.5);
    const thumb = ffprobeBytes((await downloadOutput(s.id, 'thumbnail.jpg')).bytes, 'jpg');
    expect(thumb.streams[0]!.width).toBe(320);
    expect(thumb.streams[0]!.height).toBe(180);
  });

  it('webm at 360p and a webp thumbnail', async () => {
    const s = await run([{ op: 'transcode', format: 'webm', height: 360, quality: 'low' }]);
    expect(s.status, s.error?.message).toBe('succeeded');
    const probe = ffprobeBytes((await downloadOutput(s.id, 'video.webm')).bytes, 'webm');
    expect(probe.streams.find((x) => x.codec_type === 'video')!.height).toBe(360);
    const t = await run([{ op: 'thumbnail', format: 'webp' }]);
    expect(t.status).toBe('succeeded');
    expect(ffprobeBytes((await downloadOutput(t.id, 'thumbnail.webp')).bytes, 'webp').streams[0]!.codec_name).toBe(
      'webp',
    );
  });

  it('m4a, opus and wav audio', async () => {
    for (const [format, codec] of [
      ['m4a', 'aac'],
      ['opus', 'opus'],
      ['wav', 'pcm_s16le'],
    ] as const) {
      const s = await run([{ op: 'audio', format }]);
      expect(s.status, s.error?.message).toBe('succeeded');
      const probe = ffprobeBytes((await downloadOutput(s.id, `audio.${format}`)).bytes, format);
      expect(probe.streams[0]!.codec_name).toBe(codec);
    }
  });
});

describe('bad input', () => {
  async function post(body: string, contentType = 'application/json') {
    const res = await api('/api/tasks', { method: 'POST', headers: { 'content-type': contentType }, body });
    return { status: res.status, error: ((await res.json()) as { error: { code: string; message: string } }).error };
  }

  it('answers 400 with a stable code that names the field', async () => {
    expect(await post('{"input":')).toMatchObject({ status: 400, error: { code: 'request.invalid_json' } });
    const unknownOp = await post(JSON.stringify({ input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'explode' }] }));
    expect(unknownOp).toMatchObject({ status: 400, error: { code: 'step.unknown_op' } });
    expect(unknownOp.error.message).toContain('steps[0].op');
    const unknownOpt = await post(
      JSON.stringify({ input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'audio', bitrat: '128k' }] }),
    );
    expect(unknownOpt).toMatchObject({ status: 400, error: { code: 'step.unknown_option' } });
    expect(unknownOpt.error.message).toContain('bitrat');
    expect(await post(JSON.stringify({ steps: [{ op: 'audio' }] }))).toMatchObject({
      status: 400,
      error: { code: 'input.missing' },
    });
    expect(
      await post(JSON.stringify({ input: { url: 'ftp://example.com/a.mp4' }, steps: [{ op: 'audio' }] })),
    ).toMatchObject({ status: 400, error: { code: 'input.url.scheme' } });
    expect(
      await post(JSON.stringify({ input: { url: 'http://10.0.0.7/a.mp4' }, steps: [{ op: 'audio' }] })),
    ).toMatchObject({
      status: 400,
      error: { code: 'input.url.private' },
    });
  });

  it('a file that is not media fails with media.unsupported, visible in snapshot and events', async () => {
    const { id } = await createTask({ input: { url: mediaUrl('notmedia.txt') }, steps: [{ op: 'audio' }] });
    const w = watch(id);
    await w.ended;
    const s = await snapshot(id);
    expect(s.status).toBe('failed');
    expect(s.attempt).toBe(1);
    expect(s.error).toMatchObject({ code: 'media.unsupported', retryable: false });
    const last = w.events.at(-1)!;
    expect(last).toMatchObject({ kind: 'status', status: 'failed', error: { code: 'media.unsupported' } });
  });

  it('a missing source fails at once with source.not_found', async () => {
    const { id } = await createTask({ input: { url: mediaUrl('nope.mp4') }, steps: [{ op: 'audio' }] });
    const s = await waitForStatus(id, ['failed', 'succeeded']);
    expect(s.error).toMatchObject({ code: 'source.not_found', retryable: false });
    expect(s.attempt).toBe(1);
  });

  it('unknown and malformed task ids answer 404', async () => {
    for (const id of ['aaaaaaaaaaaaaaaaaaaa', 'not-an-id', '..%2F..%2Fetc']) {
      const res = await api(`/api/tasks/${id}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('task.not_found');
    }
  });

  it('expected refusals are answers, not crashes: wrangler prints no uncaught error for them', async () => {
    const log = inject('workerLog');
    const from = statSync(log).size;
    const { id } = await createTask({ input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'probe' }] });
    await waitForStatus(id, ['succeeded', 'failed']);
    const refusals: [string, string, number][] = [
      ['GET', '/api/tasks/aaaaaaaaaaaaaaaaaaab', 404],
      ['POST', `/api/tasks/${id}/cancel`, 409],
      ['GET', `/api/tasks/${id}/outputs/nothing.mp3`, 404],
      ['GET', '/api/batches/aaaaaaaaaaaaaaaaaaab', 404],
    ];
    for (const [method, path, status] of refusals) {
      expect((await api(path, { method })).status, `${method} ${path}`).toBe(status);
    }
    await new Promise((r) => setTimeout(r, 1_000));
    const printed = readFileSync(log, 'utf8').slice(from);
    // One plain line per refusal (scripts/dev-output.mjs), not a WARNING block.
    expect(printed).toContain('warn GET /api/tasks/aaaaaaaaaaaaaaaaaaab -> 404 task.not_found');
    expect(printed).not.toContain('[WARNING]');
    expect(printed).not.toMatch(/Uncaught|clipyard-error/);
  });
});

describe('health', () => {
  it('reports storage and a reachable runner with its ffmpeg version', async () => {
    const res = await api('/api/health');
    expect(res.status).toBe(200);
    const h = (await res.json()) as {
      ok: boolean;
      components: { storage: { ok: boolean }; runner: { reachable: boolean; ffmpeg: string; activeJobs: number } };
    };
    expect(h.ok).toBe(true);
    expect(h.components.storage.ok).toBe(true);
    expect(h.components.runner.reachable).toBe(true);
    expect(h.components.runner.ffmpeg).toMatch(/\d+\.\d+/);
    expect(typeof h.components.runner.activeJobs).toBe('number');
  });
});

describe('other inputs', () => {
  it('an uploaded file, and another task output chained as input', async () => {
    const { readFileSync } = await import('node:fs');
    const { inject } = await import('vitest');
    const bytes = readFileSync(`${inject('mediaDir')}/clip.mp4`);
    const up = await api('/api/uploads?filename=my%20clip.mp4', { method: 'POST', body: bytes });
    expect(up.status).toBe(201);
    const upload = (await up.json()) as { id: string; size: number };
    expect(upload.size).toBe(bytes.length);
    const first = await createTask({ input: { upload: upload.id }, steps: [{ op: 'transcode', height: 360 }] });
    const s1 = await waitForStatus(first.id, ['succeeded', 'failed'], 90_000);
    expect(s1.status, s1.error?.message).toBe('succeeded');
    const second = await createTask({
      input: { task: first.id, output: 'video.mp4' },
      steps: [{ op: 'audio', format: 'mp3' }],
    });
    const s2 = await waitForStatus(second.id, ['succeeded', 'failed'], 90_000);
    expect(s2.status, s2.error?.message).toBe('succeeded');
    const probe = ffprobeBytes((await downloadOutput(second.id, 'audio.mp3')).bytes, 'mp3');
    expect(Math.abs(Number(probe.format.duration) - 10)).toBeLessThan(0.5);
  });

  it('refuses an upload over the limit before reading it, and an unknown upload id', async () => {
    const res = await api('/api/uploads', {
      method: 'POST',
      headers: { 'content-length': String(10 ** 12) },
      body: 'x',
    }).catch(() => null);
    // Node's fetch may refuse to send a lying Content-Length; the workerd test covers the 413 itself
    if (res) expect([400, 413]).toContain(res.status);
    const bad = await api('/api/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { upload: 'aaaaaaaaaaaaaaaaaaaa' }, steps: [{ op: 'audio' }] }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('input.invalid');
  });
});
