/**
 * Every op against every file of the generated corpus (test/runner/corpus.ts), on the real runner
 * with real ffmpeg: each run ends either in success with outputs that an independent ffprobe/ffmpeg
 * decode in this test accepts, or in a stable, non-retryable `media.*` code (a clip asked past the end
 * may say `step.invalid`). Never `runner.crashed`, never a retryable media failure, never an error
 * message that shows the runner's own paths. Prints the matrix (file x op -> outcome).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type MediaServer, startMediaServer } from '../e2e/media-server.ts';
import { type CorpusFile, makeCorpus } from './corpus.ts';
import {
  fetchOutput,
  ff,
  ffprobe,
  lastEvent,
  newJobId,
  runJobSpec,
  startTestRunner,
  type TestRunner,
} from './harness.ts';

let dir: string;
let media: MediaServer;
let t: TestRunner;
let corpus: CorpusFile[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-matrix-'));
  corpus = makeCorpus(dir);
  ff(['-f', 'lavfi', '-i', 'color=c=teal:size=64x36', '-frames:v', '1', path.join(dir, 'slide.png')]);
  media = await startMediaServer(dir);
  t = await startTestRunner();
}, 120_000);

afterAll(async () => {
  await t?.close();
  await media?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** What the deployment limits media to here: the hours-long file must be refused, not worked on. */
const LIMITS = { maxDurationSeconds: 3_600 };
const CLIP = { start: 1, end: 2 };

const OPS: Record<string, Record<string, unknown>> = {
  probe: { op: 'probe' },
  download: { op: 'download' },
  audio: { op: 'audio', format: 'mp3' },
  transcode: { op: 'transcode', height: 360 },
  thumbnail: { op: 'thumbnail' },
  transcribe: { op: 'transcribe', formats: ['json'] },
  clip: { op: 'clip', ...CLIP },
  render: { op: 'render', images: [{ url: 'slide.png' }], width: 64, height: 36 },
};

interface Decoded {
  types: string[];
  duration: number;
  frames: Record<string, number>;
  width?: number;
  height?: number;
}

/** Decode every frame of every stream with ffprobe; throws when ffprobe cannot. */
function decode(file: string): Decoded {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-count_frames',
      '-show_entries',
      'format=duration:stream=codec_type,nb_read_frames,width,height',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  const j = JSON.parse(out) as {
    format: { duration?: string };
    streams: { codec_type: string; nb_read_frames?: string; width?: number; height?: number }[];
  };
  const frames: Record<string, number> = {};
  for (const s of j.streams) frames[s.codec_type] = (frames[s.codec_type] ?? 0) + Number(s.nb_read_frames ?? 0);
  const video = j.streams.find((s) => s.codec_type === 'video');
  return {
    types: j.streams.map((s) => s.codec_type),
    duration: Number(j.format.duration ?? 0),
    frames,
    ...(video ? { width: video.width, height: video.height } : {}),
  };
}

/** The independent check of one output; returns what is wrong with it, or null. */
function judge(op: string, name: string, file: string): string | null {
  if (name.endsWith('.json')) {
    try {
      JSON.parse(readFileSync(file, 'utf8'));
      return null;
    } catch {
      return 'not JSON';
    }
  }
  let d: Decoded;
  try {
    d = decode(file);
  } catch (err) {
    return `does not decode (${String(err).slice(0, 120)})`;
  }
  if (op === 'thumbnail' || (d.duration === 0 && d.types.join() === 'video'))
    return (d.frames.video ?? 0) >= 1 ? null : 'no image';
  const a = d.frames.audio ?? 0;
  const v = d.frames.video ?? 0;
  if (a + v === 0) return `no decodable frame (${d.types.join(',') || 'no streams'})`;
  if (!(d.duration > 0)) return 'no duration';
  if (op === 'audio' && a === 0) return 'no audio frames';
  if ((op === 'transcode' || op === 'render') && v === 0) return 'no video frames';
  if (op === 'transcode' && d.height !== 360) return `height ${d.height}, asked 360`;
  if (op === 'clip' && d.duration > CLIP.end - CLIP.start + 1.5) return `clip declares ${d.duration} s`;
  return null;
}

/** Run one op on one file; the matrix cell ('ok' or the error code) plus any test failure. */
async function cell(file: CorpusFile, op: string): Promise<{ outcome: string; problem: string | null }> {
  const jobId = newJobId(`m-${op}`);
  const step = { ...OPS[op]! };
  const spec: Record<string, unknown> = {
    jobId,
    step: op === 'render' ? { ...step, images: [{ url: `${media.base}/slide.png` }] } : step,
    input: { kind: 'url', url: `${media.base}/${file.name}` },
    limits: LIMITS,
    ...(op === 'render' ? { extraInputs: [{ name: 'image-0', kind: 'url', url: `${media.base}/slide.png` }] } : {}),
  };
  const events = await runJobSpec(t.base, spec);
  const end = lastEvent(events);
  if (end.type === 'error') {
    const allowed = end.code.startsWith('media.') || (op === 'clip' && end.code === 'step.invalid');
    const problems = [
      !allowed && `code ${end.code}`,
      end.retryable && 'retryable',
      /\/(?:tmp|work|home|var|app)\/|0x[0-9a-f]{6,}|\d+\.\d+\.\d+\.\d+/.test(end.message) &&
        `message shows internals: ${end.message}`,
    ].filter(Boolean);
    return { outcome: end.code, problem: problems.length ? `${problems.join('; ')} (${end.message})` : null };
  }
  if (end.type !== 'done') return { outcome: end.type, problem: 'the event stream ended without done or error' };
  if (file.kind === 'not-media') return { outcome: 'ok', problem: 'succeeded on a file that is not media' };
  if (file.kind === 'damaged' && !['probe', 'thumbnail'].includes(op)) {
    return { outcome: 'ok', problem: 'succeeded on a damaged file, with an op that reads all of it' };
  }
  const outputs = events.flatMap((e) => (e.type === 'output' ? [e.name] : []));
  if (outputs.length === 0) return { outcome: 'ok', problem: 'succeeded without an output' };
  for (const name of outputs) {
    const why = judge(op, name, await fetchOutput(t.base, jobId, name, dir));
    if (why) return { outcome: 'ok', problem: `${name}: ${why}` };
  }
  return { outcome: 'ok', problem: null };
}

it('every op on every corpus file: an output that decodes, or a media.* code on the first attempt', async () => {
  const ops = Object.keys(OPS);
  const cells: { file: string; op: string; outcome: string; problem: string | null }[] = [];
  const spent = new Map<string, number>();
  const queue = corpus.flatMap((file) => ops.map((op) => ({ file, op })));
  // two at a time: the test runner's capacity
  await Promise.all(
    [0, 1].map(async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const started = Date.now();
        const result = await cell(next.file, next.op);
        spent.set(next.op, (spent.get(next.op) ?? 0) + Date.now() - started);
        cells.push({ file: next.file.name, op: next.op, ...result });
      }
    }),
  );
  const width = Math.max(...corpus.map((f) => f.name.length));
  const lines = [
    `${''.padEnd(width)}  ${ops.map((o) => o.padEnd(22)).join('')}`,
    ...corpus.map(
      (f) =>
        `${f.name.padEnd(width)}  ${ops
          .map((op) => {
            const c = cells.find((x) => x.file === f.name && x.op === op)!;
            return `${c.outcome}${c.problem ? ' (!)' : ''}`.padEnd(22);
          })
          .join('')}`,
    ),
  ];
  const times = ops.map((op) => `${op} ${((spent.get(op) ?? 0) / 1000).toFixed(1)} s`).join(', ');
  console.log(`output matrix (file x op -> outcome):\n${lines.join('\n')}\ntime per op: ${times}`);
  const problems = cells.filter((c) => c.problem).map((c) => `${c.file} x ${c.op}: ${c.problem}`);
  expect(problems).toEqual([]);
}, 300_000);

it('the corpus is what it claims to be', () => {
  // a few spot checks that the generators made the degenerate files they describe
  expect(ffprobe(path.join(dir, 'one-frame.webm')).streams).toHaveLength(1);
  expect(ffprobe(path.join(dir, '6ch.flac')).streams[0]).toMatchObject({ codec_type: 'audio' });
  expect(Number(ffprobe(path.join(dir, 'hours.mp3')).format.duration)).toBeGreaterThan(3_600);
});
