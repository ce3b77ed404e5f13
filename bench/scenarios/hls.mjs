// 7. HLS overhead: a generated 720p clip made into a 720/480/360 adaptive stream as one clipyard task
// (URL input served from loopback; timed from POST until the master playlist, a media playlist and a
// segment have come back through their signed links), against the very same ffmpeg command run
// directly on the local file. The raw command comes from the runner's own builder
// (containers/ffmpeg/src/hls-args.ts), so both sides do the same encoding; clipyard adds the
// download, probe, its own output check (keyframe decode of every segment start), the master
// playlist and the copy of every file into local R2. Target: clipyard <= 1.1x raw. The time around
// the encode (`overheadMs`) is reported too: on a shared machine ffmpeg's own run time swings more
// from one run to the next than everything clipyard adds.
//
// Standalone: `node bench/scenarios/hls.mjs [seconds] [reps]` measures the working tree and prints
// the result (also written to bench/.work/hls.json); bench/run.mjs runs it with `--only=hls`.
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, WORK } from '../lib/proc.mjs';
import { nowMs } from '../lib/stats.mjs';

const STEP = { op: 'hls', renditions: [720, 480, 360], segmentSeconds: 6, quality: 'medium' };
const FPS = 30;

function makeClip(seconds) {
  const file = path.join(WORK, `hls-clip-${seconds}s-720p.mp4`);
  if (existsSync(file)) return file;
  mkdirSync(WORK, { recursive: true });
  execFileSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y'],
    ...['-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=${FPS}:duration=${seconds}`],
    ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k'],
    ...['-shortest', '-movflags', '+faststart', file],
  ]);
  return file;
}

function serveFile(file) {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    // In its own process group, as the runner spawns it (so both get the same share of a busy CPU).
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed (${code}): ${err}`))));
  });
}

async function rawOnce(tree, clip, outDir) {
  const { hlsArgs, planRenditions } = await import(path.join(tree, 'containers/ffmpeg/src/hls-args.ts'));
  const { stepSchema } = await import(path.join(tree, 'src/protocol/ops.ts'));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const step = stepSchema.parse(STEP);
  const argv = hlsArgs(step, clip, outDir, { heights: planRenditions(step.renditions, 720), hasAudio: true, fps: FPS });
  const t = nowMs();
  await run('ffmpeg', argv);
  return nowMs() - t;
}

/**
 * Follow the task to its end, noting when its encode started and ended (the op's first "encoding"
 * progress and its "checking" one), so the time clipyard adds around ffmpeg can be told apart from
 * ffmpeg's own run time, which on a loaded machine varies more from run to run than the overhead.
 */
function waitForEnd(sys, id) {
  return new Promise((resolve) => {
    const marks = { encodeStart: null, encodeEnd: null, stages: {} };
    const t0 = nowMs();
    const ws = new WebSocket(`${sys.base.replace('http', 'ws')}/api/tasks/${id}/events`);
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      const e = msg.type === 'event' ? msg.event : null;
      // When each stage was first seen, ms after subscribing: where the time around the encode goes.
      if (e?.kind === 'progress' && marks.stages[e.stage] === undefined)
        marks.stages[e.stage] = Math.round(nowMs() - t0);
      if (e?.kind === 'progress' && e.stage === 'transcoding') {
        if (marks.encodeStart === null && /^encoding/.test(e.message ?? '')) marks.encodeStart = nowMs();
        if (marks.encodeEnd === null && /^checking/.test(e.message ?? '')) marks.encodeEnd = nowMs();
      }
      if (e?.kind === 'status' && ['succeeded', 'failed', 'canceled'].includes(e.status)) {
        ws.close();
        const status = e.status === 'succeeded' ? e.status : `${e.status}: ${e.error?.code ?? ''} ${e.message ?? ''}`;
        marks.stages[e.status] = Math.round(nowMs() - t0);
        resolve({ status, ...marks });
      }
    };
    ws.onerror = () => resolve({ status: 'socket error', ...marks });
  });
}

async function clipyardOnce(sys, url) {
  const t = nowMs();
  const id = await sys.createRaw({ input: { url }, steps: [STEP] });
  const { status, encodeStart, encodeEnd, stages } = await waitForEnd(sys, id);
  if (status !== 'succeeded') throw new Error(`clipyard hls task ended ${status} (task ${id})`);
  // What a player does first: the master playlist, one media playlist, the first segment.
  const master = await fetch(`${sys.base}/api/tasks/${id}/outputs/hls.m3u8`);
  const variant = (await master.text()).split('\n').find((l) => l.startsWith('/files/'));
  const media = await (await fetch(`${sys.base}${variant}`)).text();
  const range = /#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)/.exec(media);
  if (!range) throw new Error(`clipyard hls media playlist has no segment (task ${id})`);
  const end = Number(range[2]) + Number(range[1]) - 1;
  const seg = await fetch(`${sys.base}${range[3]}`, { headers: { range: `bytes=${range[2]}-${end}` } });
  if (seg.status !== 206 || (await seg.arrayBuffer()).byteLength !== Number(range[1])) {
    throw new Error(`clipyard hls segment answered ${seg.status} (task ${id})`);
  }
  const total = nowMs() - t;
  const encode = encodeStart !== null && encodeEnd !== null ? encodeEnd - encodeStart : null;
  return { total, overhead: encode === null ? null : total - encode, stages };
}

export async function hlsOverhead({ tree, seconds, log, running, reps }) {
  const { startClipyard } = await import('../systems/clipyard.mjs');
  const clip = makeClip(seconds);
  const outDir = path.join(WORK, 'hls-out');
  const files = await serveFile(clip);
  const url = `http://127.0.0.1:${files.address().port}/clip.mp4`;
  const sys = await startClipyard({ tree, concurrency: 4, runner: 'real' });
  running?.add(sys);
  const raw = [];
  const cy = [];
  const overhead = [];
  const timelines = [];
  try {
    for (let i = 0; i < (reps ?? 2); i++) {
      raw.push(await rawOnce(tree, clip, outDir));
      const r = await clipyardOnce(sys, url);
      cy.push(r.total);
      if (r.overhead !== null) overhead.push(r.overhead);
      timelines.push(r.stages);
      log(
        `   hls run ${i + 1}: raw ${raw.at(-1).toFixed(0)} ms, clipyard ${r.total.toFixed(0)} ms ` +
          `(${r.overhead?.toFixed(0) ?? '?'} ms of it around the encode)\n`,
      );
    }
  } finally {
    running?.delete(sys);
    await sys.stop();
    files.close();
    rmSync(outDir, { recursive: true, force: true });
  }
  const rawMs = Math.min(...raw);
  const clipyardMs = Math.min(...cy);
  const overheadMs = overhead.length ? Math.min(...overhead) : null;
  return {
    clip: `${seconds} s, 1280x720 ${FPS} fps H.264 + AAC (ffmpeg testsrc2 + sine), ${statSync(clip).size} bytes`,
    step: STEP,
    ffmpeg: execFileSync('ffmpeg', ['-version']).toString().split('\n')[0],
    raw,
    clipyard: cy,
    rawMs,
    clipyardMs,
    ratio: clipyardMs / rawMs,
    // What clipyard adds around the same encode (download, probe, check, storing, links), and the
    // ratio it makes against the fastest raw run: steadier than `ratio` when the machine is busy.
    overhead,
    overheadMs,
    overheadRatio: overheadMs === null ? null : (rawMs + overheadMs) / rawMs,
    timelines,
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? 30);
  const reps = Number(process.argv[3] ?? 2);
  const log = (s) => process.stderr.write(s);
  const result = await hlsOverhead({ tree: ROOT, seconds, reps, log });
  mkdirSync(WORK, { recursive: true });
  writeFileSync(path.join(WORK, 'hls.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
