/**
 * An in-process media runner for the runner tests: the real RunnerServer (real ffmpeg, real
 * pocketsphinx) on a free port, plus helpers to post a job, read its event stream to the end, and
 * fetch an output; and ffmpeg/ffprobe helpers that make fixtures and check results.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../containers/ffmpeg/src/config.ts';
import { RunnerServer } from '../../containers/ffmpeg/src/server.ts';
import { toolVersions } from '../../containers/ffmpeg/src/tools.ts';
import type { RunnerEvent } from '../../src/protocol/runner.ts';

export interface TestRunner {
  base: string;
  runner: RunnerServer;
  close(): Promise<void>;
}

export async function startTestRunner(): Promise<TestRunner> {
  const jobsDir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-runner-test-'));
  const env = { JOBS_DIR: jobsDir, CLIPYARD_ALLOW_HOSTS: '127.0.0.1', RUNNER_CAPACITY: '2' };
  const config = loadConfig(env as unknown as NodeJS.ProcessEnv);
  const runner = new RunnerServer(config, await toolVersions());
  await new Promise<void>((r) => runner.server.listen(0, '127.0.0.1', r));
  const { port } = runner.server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    runner,
    close: async () => {
      await runner.stopAll();
      runner.server.closeAllConnections();
      await new Promise<void>((r) => runner.server.close(() => r()));
    },
  };
}

type Sequenced = Exclude<RunnerEvent, { type: 'heartbeat' }>;

let jobCounter = 0;
export const newJobId = (what: string) => `t-${what}-${process.pid}-${++jobCounter}`;

/** Post a JSON job spec and read its events until `done` or `error`. */
export async function runJobSpec(base: string, spec: Record<string, unknown>): Promise<Sequenced[]> {
  const res = await fetch(`${base}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  });
  if (res.status !== 202) throw new Error(`POST /jobs answered ${res.status}: ${await res.text()}`);
  return readEvents(base, String(spec.jobId));
}

export async function readEvents(base: string, jobId: string): Promise<Sequenced[]> {
  const res = await fetch(`${base}/jobs/${jobId}/events?after=0`);
  const text = await res.text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RunnerEvent)
    .filter((e): e is Sequenced => e.type !== 'heartbeat');
}

export function lastEvent(events: readonly Sequenced[]): Sequenced {
  return events.at(-1)!;
}

/** Fetch an output into `dir` and return its path. */
export async function fetchOutput(base: string, jobId: string, name: string, dir: string): Promise<string> {
  const res = await fetch(`${base}/jobs/${jobId}/outputs/${name}`);
  if (!res.ok) throw new Error(`output ${name} answered ${res.status}`);
  const file = path.join(dir, `${jobId}-${name}`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

export function ff(args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

export interface ProbeResult {
  format: { duration?: string; format_name?: string };
  streams: { codec_type: string; codec_name?: string; width?: number; height?: number }[];
}

export function ffprobe(file: string): ProbeResult {
  const out = execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file]);
  return JSON.parse(String(out)) as ProbeResult;
}

/** Mean luma (0-255) of an image or of a video's first frame. */
export function meanLuma(file: string): number {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      `movie=${file},signalstats`,
      '-show_entries',
      'frame_tags=lavfi.signalstats.YAVG',
      '-of',
      'csv=p=0',
      '-read_intervals',
      '%+#1',
    ],
    { encoding: 'utf8' },
  );
  return Number(out.trim().split('\n')[0]);
}

/** Synthesized English speech (espeak-ng) as a wav. */
export function speak(text: string, file: string): void {
  execFileSync('espeak-ng', ['-v', 'en-us+f2', '-s', '130', '-g', '6', '-w', file, text]);
}

/** Words the recognizer reliably hears in this synthesized speech (it still mishears others). */
export const SPEECH =
  'Good morning. Today we talk about the weather and the morning news. ' +
  'This is a test of speech recognition. We talk about the weather again, and then the news.';
export const HEARD = ['morning', 'weather', 'news', 'talk', 'speech', 'recognition', 'today', 'test'];
