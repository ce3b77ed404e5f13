/**
 * Pipelines end to end through the public API with real ffmpeg and real speech recognition:
 * - download -> audio -> transcribe, with the runner killed (SIGKILL) between steps and restarted:
 *   the task resumes where it was, step 0 runs once, and the transcript of synthesized speech holds
 *   real spoken words with monotonic timestamps inside the audio;
 * - render of three generated images (two by URL, one uploaded) and a tone into an mp4 whose duration
 *   and frame size ffprobe confirms, then its thumbnail;
 * - a step reading a named earlier output, and a render with a transcript's subtitles muxed in;
 * - bad options answered 400 with a code and the field named.
 *
 * The crash test starts its own runner and wrangler (so it may kill the runner); the rest use the
 * suite's shared system.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
// @ts-expect-error plain ESM helper shared with `npm start`
import { freePort, startRunner, startWorker, stopProcess } from '../../scripts/system.mjs';
import { parseCues, type Segment } from '../../src/lib/transcript.ts';
import type { TaskEvent, TaskSnapshot, WireMessage } from '../../src/protocol/task.ts';
import { HEARD, SPEECH, speak } from '../runner/harness.ts';
import { api, createTask, downloadOutput, ffprobeBytes, mediaUrl, snapshot, waitForStatus, watch } from './client.ts';
import { type MediaServer, startMediaServer } from './media-server.ts';

function ff(args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

function durationOf(file: string): number {
  return Number(
    execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], {
      encoding: 'utf8',
    }),
  );
}

/** Every event of a finished task, replayed from seq 1 over a WebSocket (up to the snapshot's seq). */
async function eventLog(base: string, id: string): Promise<TaskEvent[]> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/tasks/${id}/events?after=0`);
  const events: TaskEvent[] = [];
  let until = Number.POSITIVE_INFINITY;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('event log replay timed out')), 15_000);
    const check = () => {
      if ((events.at(-1)?.seq ?? 0) < until) return;
      clearTimeout(timer);
      ws.close();
      resolve();
    };
    ws.addEventListener('message', (m) => {
      const msg = JSON.parse(String(m.data)) as WireMessage;
      if (msg.type === 'snapshot') until = msg.snapshot.seq;
      else events.push(msg.event);
      check();
    });
    ws.addEventListener('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return events;
}

function expectTranscript(segments: readonly Segment[], text: string, duration: number): void {
  const words = new Set(text.toLowerCase().split(/\W+/));
  expect(HEARD.filter((w) => words.has(w)).length, `heard: ${text}`).toBeGreaterThanOrEqual(3);
  expect(segments.length).toBeGreaterThan(0);
  let last = 0;
  for (const s of segments) {
    expect(s.start).toBeGreaterThanOrEqual(last);
    expect(s.end).toBeGreaterThanOrEqual(s.start);
    expect(s.end).toBeLessThanOrEqual(duration + 0.05);
    last = s.end;
  }
}

describe('a pipeline survives a runner crash between steps', () => {
  let dir: string;
  let media: MediaServer;
  let runner: { pid: number } | null = null;
  let worker: { pid: number } | null = null;
  let base: string;
  let runnerPort: number;
  const verbose = process.env.CLIPYARD_E2E_VERBOSE ? (s: string) => process.stderr.write(s) : undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-crash-'));
    speak(SPEECH, path.join(dir, 'talk.wav'));
    media = await startMediaServer(dir);
    runnerPort = await freePort();
    const port = await freePort();
    runner = await startRunner({
      port: runnerPort,
      allowHosts: '127.0.0.1',
      log: verbose,
      readyMs: 60_000,
      env: { JOBS_DIR: path.join(dir, 'jobs') },
    });
    worker = await startWorker({
      port,
      runnerUrl: `http://127.0.0.1:${runnerPort}`,
      allowHosts: '127.0.0.1',
      persistTo: path.join(dir, 'state'),
      // retries wide enough to span the runner's restart on a busy machine
      vars: { RETRY_DELAYS_MS: '1000,2000,4000', STALL_TIMEOUT_MS: '10000', MAX_ATTEMPTS: '20' },
      log: verbose,
    });
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await stopProcess(worker);
    await stopProcess(runner);
    await media?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumes at the first unfinished step after kill -9 of the runner; step 0 ran once; the transcript holds real words', async () => {
    const started = Date.now();
    const res = await fetch(`${base}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        input: { url: `${media.base}/talk.wav` },
        steps: [{ op: 'download' }, { op: 'audio', format: 'mp3' }, { op: 'transcribe', chunkSeconds: 5, parallel: 2 }],
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    // Kill the runner the moment step 0 is recorded as done, then bring it back.
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/tasks/${id}/events`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('step 0 never finished')), 60_000);
      ws.addEventListener('message', (m) => {
        const msg = JSON.parse(String(m.data)) as WireMessage;
        if (
          msg.type === 'event' &&
          msg.event.kind === 'step' &&
          msg.event.step === 0 &&
          msg.event.status === 'succeeded'
        ) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await stopProcess(runner, 'SIGKILL');
    ws.close();
    runner = await startRunner({
      port: runnerPort,
      allowHosts: '127.0.0.1',
      log: verbose,
      readyMs: 60_000,
      env: { JOBS_DIR: path.join(dir, 'jobs') },
    });

    let snap: TaskSnapshot;
    for (;;) {
      snap = (await (await fetch(`${base}/api/tasks/${id}`)).json()) as TaskSnapshot;
      if (['succeeded', 'failed', 'canceled'].includes(snap.status)) break;
      if (Date.now() - started > 200_000) throw new Error(`still ${snap.status}: ${snap.message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(snap.status, `${snap.error?.message} (attempt ${snap.attempt} of ${snap.maxAttempts})`).toBe('succeeded');
    expect(snap.attempt).toBeGreaterThan(1);
    expect(snap.outputs.map((o) => o.name).sort()).toEqual(
      ['download.wav', 'audio.mp3', 'transcript.json', 'transcript.srt', 'transcript.txt', 'transcript.vtt'].sort(),
    );

    const log = await eventLog(base, id);
    const stepEvents = (i: number) =>
      log.filter((e) => e.kind === 'step' && e.step === i).map((e) => (e as { status: string }).status);
    expect(stepEvents(0)).toEqual(['running', 'succeeded']);
    expect(log.filter((e) => e.kind === 'output' && e.step === 0)).toHaveLength(1);
    // nothing of step 0 happened after it succeeded: no progress, no second output
    const step0Done = log.find((e) => e.kind === 'step' && e.step === 0 && e.status === 'succeeded')!.seq;
    expect(log.filter((e) => e.seq > step0Done && 'step' in e && e.step === 0)).toEqual([]);
    // the crash was noticed and retried
    const statuses = log.flatMap((e) => (e.kind === 'status' ? [e.status] : []));
    expect(statuses).toContain('retrying');
    expect(stepEvents(1).at(-1)).toBe('succeeded');
    expect(stepEvents(2)).toEqual(['running', 'succeeded']);
    // progress never went backwards within an attempt (overall, and each step's own) and reached 100
    let attempt = 0;
    let overall = -1;
    const stepLast = new Map<number, number>();
    let seen = 0;
    for (const e of log) {
      if (e.kind === 'status' && e.attempt !== attempt) {
        attempt = e.attempt;
        overall = -1;
        stepLast.clear();
      }
      if (e.kind !== 'progress') continue;
      seen++;
      const at = `event ${e.seq} (attempt ${attempt}, step ${e.step})`;
      expect(e.progress, at).toBeGreaterThanOrEqual(overall);
      expect(e.stepProgress, at).toBeGreaterThanOrEqual(stepLast.get(e.step) ?? -1);
      overall = e.progress;
      stepLast.set(e.step, e.stepProgress);
    }
    // the check above looked at real progress, across more than one attempt
    expect(seen).toBeGreaterThan(3);
    expect(attempt).toBeGreaterThan(1);
    expect(snap.progress).toBe(100);

    const link = await fetch(`${base}/api/tasks/${id}/outputs/transcript.json`, { redirect: 'manual' });
    expect(link.status).toBe(302);
    const transcript = (await (await fetch(link.headers.get('location')!)).json()) as {
      text: string;
      segments: Segment[];
      chunks: number;
      engine: string;
    };
    expect(transcript.engine).toBe('pocketsphinx');
    expect(transcript.chunks).toBeGreaterThanOrEqual(3);
    expectTranscript(transcript.segments, transcript.text, durationOf(path.join(dir, 'talk.wav')));
    console.log(`crash pipeline: ${Date.now() - started} ms, attempts ${snap.attempt}; heard: ${transcript.text}`);
  }, 240_000);
});

describe('render and chained outputs', () => {
  let dir: string;

  beforeAll(() => {
    // The suite's media server serves files from mediaDir by name.
    dir = inject('mediaDir');
    for (const [i, colour] of ['orange', 'teal', 'purple'].entries()) {
      ff([
        '-f',
        'lavfi',
        '-i',
        `color=c=${colour}:size=800x600`,
        '-vf',
        `drawbox=x=100:y=100:w=${200 + i * 100}:h=200:color=white:t=fill`,
        '-frames:v',
        '1',
        path.join(dir, `pipe-slide${i}.png`),
      ]);
    }
    ff(['-f', 'lavfi', '-i', 'sine=frequency=523:sample_rate=44100', '-t', '5', path.join(dir, 'pipe-tone.wav')]);
    speak(SPEECH, path.join(dir, 'pipe-talk.wav'));
  });

  it('renders three images (two URLs, one upload) and a tone into an mp4 ffprobe confirms, then its thumbnail', async () => {
    const started = Date.now();
    const png = execFileSync('cat', [path.join(dir, 'pipe-slide2.png')]);
    const up = await api('/api/uploads?filename=slide.png', {
      method: 'POST',
      headers: { 'content-length': String(png.length) },
      body: png,
    });
    expect(up.status).toBe(201);
    const upload = ((await up.json()) as { id: string }).id;
    const { id } = await createTask({
      input: { url: mediaUrl('pipe-tone.wav') },
      steps: [
        {
          op: 'render',
          images: [{ url: mediaUrl('pipe-slide0.png') }, { url: mediaUrl('pipe-slide1.png') }, { upload }],
          secondsPerImage: 2,
          fade: 0.25,
          width: 640,
          height: 360,
        },
        { op: 'thumbnail', time: 'auto', width: 320 },
      ],
    });
    const snap = await waitForStatus(id, ['succeeded', 'failed'], 90_000);
    expect(snap.status, snap.error?.message).toBe('succeeded');
    expect(snap.outputs.map((o) => o.name)).toEqual(['render.mp4', 'thumbnail.jpg']);
    const { bytes } = await downloadOutput(id, 'render.mp4');
    const probe = ffprobeBytes(bytes, 'mp4');
    const video = probe.streams.find((s) => s.codec_type === 'video')!;
    expect(video).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
    expect(probe.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
    // three images at 2 s each: 6 s, though the tone runs 5 s (padded with silence)
    expect(Math.abs(Number(probe.format.duration) - 6)).toBeLessThan(0.15);
    const thumb = ffprobeBytes((await downloadOutput(id, 'thumbnail.jpg')).bytes, 'jpg');
    expect(thumb.streams[0]).toMatchObject({ width: 320, height: 180 });
    console.log(`render of 3 images: ${Date.now() - started} ms`);
  });

  it('feeds a transcript to a render as subtitles, and a later step reads a named earlier output', async () => {
    const { id } = await createTask({
      input: { url: mediaUrl('pipe-talk.wav') },
      steps: [
        { op: 'audio', format: 'mp3' },
        { op: 'transcribe', chunkSeconds: 10, formats: ['srt', 'json'] },
        {
          op: 'render',
          images: [{ url: mediaUrl('pipe-slide0.png') }],
          width: 320,
          height: 240,
          subtitles: { output: 'transcript.srt' },
          subtitlesMode: 'mux',
        },
        { op: 'clip', input: 'audio.mp3', start: 1, end: 3 },
      ],
    });
    const w = watch(id);
    // While chunks are being transcribed, reads are answered at once (progress never blocks them).
    const readMs: number[] = [];
    for (let deadline = Date.now() + 90_000; Date.now() < deadline; ) {
      const t0 = Date.now();
      const s = await snapshot(id);
      if (s.stage === 'transcribing') readMs.push(Date.now() - t0);
      if (s.steps[1]?.status === 'succeeded' || ['succeeded', 'failed'].includes(s.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const snap = await waitForStatus(id, ['succeeded', 'failed'], 120_000);
    expect(snap.status, snap.error?.message).toBe('succeeded');
    expect(snap.outputs.map((o) => o.name)).toEqual([
      'audio.mp3',
      'transcript.srt',
      'transcript.json',
      'render.mp4',
      'clip.mp3',
    ]);
    expect(readMs.length).toBeGreaterThan(0);
    // A read that waited for the transcription would take a chunk's time; typical reads must not, and
    // none may take long (the bound allows one stall of a loaded 2-core machine, not a chunk's wait).
    const sorted = [...readMs].sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(300);
    expect(sorted.at(-1)).toBeLessThan(2_000);
    await w.closed;
    // the step's progress counted finished chunks, and the overall bar only moved forward
    const chunkNotes = w.events.flatMap((e) =>
      e.kind === 'progress' && e.step === 1 && /^transcribed \d+ of \d+ chunks$/.test(e.message) ? [e.message] : [],
    );
    expect(chunkNotes.at(-1)).toMatch(/^transcribed (\d+) of \1 chunks$/);
    const overall = w.events.flatMap((e) => (e.kind === 'progress' ? [e.progress] : []));
    expect(overall).toEqual([...overall].sort((a, b) => a - b));
    console.log(`reads during transcription: ${readMs.length}, slowest ${Math.max(...readMs)} ms`);
    // the render's audio is the mp3 (transcribe passes its input through), fitted: one image for its whole length
    const render = ffprobeBytes((await downloadOutput(id, 'render.mp4')).bytes, 'mp4');
    expect(render.streams.map((s) => s.codec_type).sort()).toEqual(['audio', 'subtitle', 'video']);
    const cues = parseCues(new TextDecoder().decode((await downloadOutput(id, 'transcript.srt')).bytes));
    expect(cues.length).toBeGreaterThan(0);
    // clip read audio.mp3 by name, not the render before it
    const clip = ffprobeBytes((await downloadOutput(id, 'clip.mp3')).bytes, 'mp3');
    expect(clip.streams.map((s) => s.codec_type)).toEqual(['audio']);
    expect(Math.abs(Number(clip.format.duration) - 2)).toBeLessThan(0.3);
  });

  it('fails clearly when a step names an output no earlier step produced', async () => {
    const { id } = await createTask({
      input: { url: mediaUrl('pipe-tone.wav') },
      steps: [
        { op: 'audio', format: 'mp3' },
        { op: 'clip', input: 'nothing.mp3', start: 0, end: 1 },
      ],
    });
    const snap = await waitForStatus(id, ['succeeded', 'failed'], 60_000);
    expect(snap.status).toBe('failed');
    expect(snap.error).toMatchObject({ code: 'input.missing', retryable: false });
    expect(snap.error?.message).toContain('steps[1].input');
  });

  it.each([
    [{ op: 'clip', start: 5, end: 2 }, 'step.invalid', 'steps[0].end'],
    [{ op: 'clip', start: 0, stop: 2 }, 'step.unknown_option', '"stop"'],
    [{ op: 'render', images: [] }, 'step.invalid', 'steps[0].images'],
    [{ op: 'render', images: [{ url: 'ftp://x/y.png' }] }, 'step.invalid', 'steps[0].images[0]'],
    [{ op: 'transcribe', parallel: 20 }, 'step.invalid', 'steps[0].parallel'],
    [{ op: 'transcribe', formats: ['doc'] }, 'step.invalid', 'steps[0].formats[0]'],
    [{ op: 'transcribe', language: 'english' }, 'step.invalid', 'steps[0].language'],
    [{ op: 'thumbnail', time: 'middle' }, 'step.invalid', 'steps[0].time'],
    [{ op: 'thumbnail', sheet: { columns: 20 } }, 'step.invalid', 'steps[0].sheet.columns'],
    [{ op: 'audio', input: '../etc/passwd' }, 'step.invalid', 'steps[0].input'],
  ])('answers 400 for %j', async (step, code, field) => {
    const res = await api('/api/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { url: mediaUrl('pipe-tone.wav') }, steps: [step] }),
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe(code);
    expect(error.message).toContain(field);
  });
});

describe('health', () => {
  it('names the transcription engine and model in use', async () => {
    const body = (await (await api('/api/health')).json()) as { components: { runner: { transcriber: unknown } } };
    expect(body.components.runner.transcriber).toEqual({
      engine: 'pocketsphinx',
      model: 'cmusphinx-en-us',
      available: true,
    });
  });
});
