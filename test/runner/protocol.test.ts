/**
 * The media runner as the task object meets it: a real runner process with real ffmpeg, driven over
 * the runner protocol (POST /jobs, NDJSON events with replay, outputs, DELETE, health).
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM helper shared with `npm start`
import { freePort, startRunner, stopProcess } from '../../scripts/system.mjs';
import { encodeJobHeader, JOB_HEADER, type JobSpec, type RunnerEvent } from '../../src/protocol/runner.ts';

let dir: string;
let media: Server;
let mediaBase: string;
let runner: import('node:child_process').ChildProcess;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-runner-'));
  const ff = (args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
  ff(
    ['-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=300', '-t', '4']
      .concat(['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest'])
      .concat([path.join(dir, 'clip.mp4')]),
  );
  // long enough that a slow encode is still running when the test cancels it
  ff(
    [
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=1280x720:rate=30',
      '-t',
      '20',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
    ].concat(['-pix_fmt', 'yuv420p', path.join(dir, 'long.mp4')]),
  );
  media = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/to-private') {
      res.writeHead(302, { location: 'http://10.1.2.3/clip.mp4' }).end();
      return;
    }
    if (url.pathname === '/to-metadata') {
      res.writeHead(301, { location: 'http://[::ffff:169.254.169.254]/latest/meta-data/' }).end();
      return;
    }
    const file = path.join(dir, path.basename(url.pathname));
    try {
      res.writeHead(200, { 'content-length': statSync(file).size, 'content-type': 'video/mp4' });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => media.listen(0, '127.0.0.1', r));
  mediaBase = `http://127.0.0.1:${(media.address() as AddressInfo).port}`;
  const port = await freePort();
  runner = await startRunner({ port, allowHosts: '127.0.0.1', env: { JOBS_DIR: path.join(dir, 'jobs') } });
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await stopProcess(runner);
  await new Promise((r) => media.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function start(spec: JobSpec): Promise<Response> {
  return fetch(`${base}/jobs`, { method: 'POST', body: JSON.stringify(spec) });
}

/** Read the NDJSON event stream until it ends. */
async function events(jobId: string, after = 0): Promise<RunnerEvent[]> {
  const res = await fetch(`${base}/jobs/${jobId}/events?after=${after}`);
  expect(res.headers.get('content-type')).toBe('application/x-ndjson');
  const text = await res.text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RunnerEvent);
}

const sequenced = (list: RunnerEvent[]) => list.filter((e) => e.type !== 'heartbeat');
/** ffmpeg processes the runner started that are still alive. */
const ffmpegChildren = (pid: number) =>
  execFileSync('ps', ['-e', '-o', 'ppid=,comm='])
    .toString()
    .split('\n')
    .filter((l) => l.trim().startsWith(`${pid} `) && l.includes('ffmpeg'));

describe('runner protocol', () => {
  it('runs a job, streams numbered events with a heartbeat, serves the output, replays after=N', async () => {
    const res = await start({
      jobId: 'mp3-1',
      step: { op: 'audio', format: 'mp3' },
      input: { kind: 'url', url: `${mediaBase}/clip.mp4` },
    });
    expect(res.status).toBe(202);
    const all = await events('mp3-1');
    expect(all[0]!.type).toBe('heartbeat');
    const list = sequenced(all);
    expect(list.map((e) => ('seq' in e ? e.seq : 0))).toEqual(list.map((_, i) => i + 1));
    expect(list.at(-1)!.type).toBe('done');
    const progress = list.filter((e) => e.type === 'progress');
    const values = progress.map((e) => (e.type === 'progress' ? e.progress : 0));
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(progress.some((e) => e.type === 'progress' && e.stage === 'downloading' && e.totalBytes)).toBe(true);
    const output = list.find((e) => e.type === 'output');
    expect(output).toMatchObject({ name: 'audio.mp3', contentType: 'audio/mpeg' });

    const file = await fetch(`${base}/jobs/mp3-1/outputs/audio.mp3`);
    const bytes = new Uint8Array(await file.arrayBuffer());
    expect(Number(file.headers.get('content-length'))).toBe(bytes.length);
    expect(output && output.type === 'output' && output.size).toBe(bytes.length);

    const k = 3;
    expect(sequenced(await events('mp3-1', k))).toEqual(list.slice(k));
    // the same job posted again (the object crashed before recording it) is the same job
    const again = await start({
      jobId: 'mp3-1',
      step: { op: 'audio', format: 'mp3' },
      input: { kind: 'url', url: `${mediaBase}/clip.mp4` },
    });
    expect(again.status).toBe(200);
    expect((await fetch(`${base}/jobs/mp3-1`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${base}/jobs/mp3-1/events`)).status).toBe(404);
  });

  it('takes the input as the request body', async () => {
    const body = readFileSync(path.join(dir, 'clip.mp4'));
    const spec: JobSpec = {
      jobId: 'body-1',
      step: { op: 'thumbnail', format: 'jpg', width: 160 },
      input: { kind: 'body', filename: 'x.mp4' },
    };
    const res = await fetch(`${base}/jobs`, { method: 'POST', headers: { [JOB_HEADER]: encodeJobHeader(spec) }, body });
    expect(res.status).toBe(202);
    const list = sequenced(await events('body-1'));
    expect(list.at(-1)!.type).toBe('done');
    expect(list.some((e) => e.type === 'progress' && e.stage === 'downloading')).toBe(false);
    expect(list.find((e) => e.type === 'output')).toMatchObject({ name: 'thumbnail.jpg', contentType: 'image/jpeg' });
    await fetch(`${base}/jobs/body-1`, { method: 'DELETE' });
  });

  it('refuses private targets, also behind a redirect, and names the failure', async () => {
    const cases: [string, string][] = [
      ['http://10.0.0.1/x.mp4', 'input.url.private'],
      ['http://[::1]:80/x.mp4', 'input.url.private'],
      [`${mediaBase}/to-private`, 'input.url.private'],
      [`${mediaBase}/to-metadata`, 'input.url.private'],
      ['file:///etc/passwd', 'input.url.scheme'],
      [`${mediaBase}/missing.mp4`, 'source.not_found'],
    ];
    for (const [i, [url, code]] of cases.entries()) {
      const jobId = `bad-${i}`;
      expect((await start({ jobId, step: { op: 'probe' }, input: { kind: 'url', url } })).status).toBe(202);
      const last = sequenced(await events(jobId)).at(-1);
      expect(last, url).toMatchObject({ type: 'error', code });
    }
  });

  it('cancel stops ffmpeg and its process group within seconds and removes the files', async () => {
    const jobId = 'cancel-1';
    const spec: JobSpec = {
      jobId,
      step: { op: 'transcode', format: 'webm', quality: 'high' },
      input: { kind: 'url', url: `${mediaBase}/long.mp4` },
    };
    expect((await start(spec)).status).toBe(202);
    const deadline = Date.now() + 20_000;
    while (ffmpegChildren(runner.pid!).length === 0) {
      if (Date.now() > deadline) throw new Error('ffmpeg never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    const t0 = Date.now();
    const res = await fetch(`${base}/jobs/${jobId}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(ffmpegChildren(runner.pid!)).toEqual([]);
    expect(() => statSync(path.join(dir, 'jobs', jobId))).toThrow();
    const health = (await (await fetch(`${base}/health`)).json()) as { activeJobs: number; ffmpeg: string };
    expect(health.ffmpeg).toMatch(/\d+\.\d+/);
  });

  it('answers junk with stable codes', async () => {
    const bad = await fetch(`${base}/jobs`, { method: 'POST', body: '{"jobId":' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('request.invalid');
    const unknown = await fetch(`${base}/jobs/nope/events`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('job.not_found');
  });
});
