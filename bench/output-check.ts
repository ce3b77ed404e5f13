/**
 * What the runner's output check costs (containers/ffmpeg/src/verify-output.ts), next to the ffmpeg
 * run it checks: a 10 s 720p H.264/AAC clip, its mp3, 480p mp4 and thumbnail made with the runner's own
 * argument builders, then the check timed: until the output may be announced (the ffprobe, on the
 * job's critical path) and until the head/tail decodes, started with it, are done (they overlap the
 * upload to R2). Median of 5 runs each.
 *
 * Run: node_modules/.bin/node --experimental-strip-types bench/output-check.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { audioArgs, thumbnailArgs, transcodeArgs } from '../containers/ffmpeg/src/ffmpeg-args.ts';
import { Job } from '../containers/ffmpeg/src/job.ts';
import { runFfmpeg } from '../containers/ffmpeg/src/media.ts';
import { verifyOutput } from '../containers/ffmpeg/src/verify-output.ts';

const RUNS = 5;
const dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-check-bench-'));
const input = path.join(dir, 'in.mp4');
execFileSync('ffmpeg', [
  ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30'],
  ...['-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '10', '-c:v', 'libx264', '-preset', 'veryfast'],
  ...['-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', input],
]);
const job = new Job({ jobId: 'bench', step: { op: 'probe' }, input: { kind: 'body', filename: 'in.mp4' } }, dir);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function time(fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

const cases = [
  {
    name: 'audio mp3',
    out: path.join(dir, 'a.mp3'),
    args: (o: string) => audioArgs({ op: 'audio', format: 'mp3' }, input, o),
    expect: { kind: 'media', audio: true, video: false, seconds: 10 } as const,
  },
  {
    name: 'transcode 480p',
    out: path.join(dir, 'v.mp4'),
    args: (o: string) =>
      transcodeArgs({ op: 'transcode', format: 'mp4', height: 480, quality: 'medium' }, input, o, true, 720),
    expect: { kind: 'media', audio: true, video: true, height: 480, seconds: 10 } as const,
  },
  {
    name: 'thumbnail',
    out: path.join(dir, 't.jpg'),
    args: (o: string) => thumbnailArgs({ op: 'thumbnail', format: 'jpg' }, input, o, 1),
    expect: { kind: 'image', audio: false, video: true } as const,
  },
];

console.log('| output | ffmpeg run | until announced (the probe) | until the whole check is done |');
console.log('|---|---|---|---|');
for (const c of cases) {
  const run = await time(() => runFfmpeg(job, c.args(c.out), 10, 60_000, () => {}));
  const announced: number[] = [];
  const done: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const v = await verifyOutput(job, c.out, { expect: c.expect });
    announced.push(performance.now() - t);
    await v.decoded;
    done.push(performance.now() - t);
  }
  const ms = (n: number) => `${Math.round(n)} ms`;
  console.log(`| ${c.name} | ${ms(run)} | ${ms(median(announced))} | ${ms(median(done))} |`);
}
console.log(`(load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores)`);
rmSync(dir, { recursive: true, force: true });
