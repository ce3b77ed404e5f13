/**
 * Degenerate and damaged media through the whole system (Worker, task object, runner, R2): a result
 * that is reported "succeeded" plays (checked with ffprobe on the downloaded bytes), and a media failure
 * reaches the user with its stable `media.*` code on attempt 1 of 4, never as a retried crash. The full
 * file x op matrix runs against the runner directly (test/runner/output-matrix.test.ts); these few
 * cases prove the code and the attempt count survive the trip to the user.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCorpus } from '../runner/corpus.ts';
import { createTask, downloadOutput, ffprobeBytes, waitForStatus } from './client.ts';
import { type MediaServer, startMediaServer } from './media-server.ts';

let dir: string;
let media: MediaServer;
const FILES = ['one-frame.webm', 'empty-data.wav', '6ch.flac', 'truncated.mp4', 'subtitles-only.mkv', 'still.jpg'];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-e2e-corpus-'));
  makeCorpus(dir, FILES);
  media = await startMediaServer(dir);
});

afterAll(async () => {
  await media?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(file: string, step: Record<string, unknown>) {
  const { id } = await createTask({ input: { url: `${media.base}/${file}` }, steps: [step], maxAttempts: 4 });
  return { id, snap: await waitForStatus(id, ['succeeded', 'failed', 'canceled'], 90_000) };
}

describe('media failures reach the user with their code, on the first attempt', () => {
  it.each([
    ['empty-data.wav', { op: 'audio', format: 'mp3' }, 'media.no_frames'],
    ['truncated.mp4', { op: 'transcode', height: 360 }, 'media.truncated'],
    ['subtitles-only.mkv', { op: 'audio' }, 'media.no_stream'],
  ])('%s x %o -> %s', async (file, step, code) => {
    const { snap } = await run(file, step);
    expect(snap.status).toBe('failed');
    expect(snap.error).toMatchObject({ code, retryable: false });
    expect(snap.error?.message).not.toMatch(/\/tmp\/|0x[0-9a-f]{6,}/);
    expect(snap.attempt).toBe(1);
    expect(snap.outputs).toEqual([]);
  });
});

describe('degenerate media that used to crash or lie now succeeds with a file that plays', () => {
  it('thumbnail of a one-frame webm and of a still jpeg: one attempt, a decodable image', async () => {
    for (const file of ['one-frame.webm', 'still.jpg']) {
      const { id, snap } = await run(file, { op: 'thumbnail' });
      expect(snap.status, `${file}: ${snap.error?.message}`).toBe('succeeded');
      expect(snap.attempt).toBe(1);
      const { bytes } = await downloadOutput(id, 'thumbnail.jpg');
      expect(ffprobeBytes(bytes, 'jpg').streams[0]).toMatchObject({ codec_type: 'video' });
    }
  });

  it('clip 1-2 s of a 6-channel flac: the result says it lasts about 1 s, as its packets do', async () => {
    const { id, snap } = await run('6ch.flac', { op: 'clip', start: 1, end: 2 });
    expect(snap.status, snap.error?.message).toBe('succeeded');
    const out = snap.outputs[0]!;
    const { bytes } = await downloadOutput(id, out.name);
    const probe = ffprobeBytes(bytes, out.name.split('.').pop()!);
    expect(Number(probe.format.duration)).toBeGreaterThan(0.5);
    expect(Number(probe.format.duration)).toBeLessThan(1.6);
    expect(probe.streams[0]).toMatchObject({ codec_type: 'audio' });
  });
});
