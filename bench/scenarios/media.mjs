// 6. Media overhead: a generated 720p clip through audio (mp3), transcode (480p) and thumbnail, each as
// its own clipyard task (URL input served from loopback), timed from POST until the output has been
// downloaded, against the same ffmpeg commands run directly on the local file. The raw commands are
// built by the runner's own argument builders (containers/ffmpeg/src/ffmpeg-args.ts), so both sides
// do the same encoding work. Also measures progress latency on the real transcode: a proxy between
// the object and the runner stamps each progress line (lib/stamp-proxy.mjs).
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WORK } from '../lib/proc.mjs';
import { startStampProxy } from '../lib/stamp-proxy.mjs';
import { nowMs, summary } from '../lib/stats.mjs';

const STEPS = [
  { op: 'audio', format: 'mp3', output: 'audio.mp3' },
  { op: 'transcode', format: 'mp4', height: 480, quality: 'medium', output: 'video.mp4' },
  { op: 'thumbnail', format: 'jpg', output: 'thumbnail.jpg' },
];

function makeClip(seconds) {
  const file = path.join(WORK, `clip-${seconds}s-720p.mp4`);
  if (existsSync(file)) return file;
  mkdirSync(WORK, { recursive: true });
  execFileSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y'],
    ...['-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30:duration=${seconds}`],
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
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed (${code}): ${err}`))));
  });
}

async function rawOnce(args, step, clip, outDir) {
  const out = path.join(outDir, `raw-${step.output}`);
  const { op, output: _o, ...params } = step;
  const s = { op, ...params };
  let argv;
  if (op === 'audio') argv = args.audioArgs(s, clip, out);
  else if (op === 'transcode') argv = args.transcodeArgs(s, clip, out, true, 720);
  else argv = args.thumbnailArgs(s, clip, out, args.thumbnailTime(undefined, Number(step.duration)));
  const t = nowMs();
  await run('ffmpeg', argv);
  return nowMs() - t;
}

async function clipyardOnce(sys, step, url, stampLatencies) {
  const { output, duration: _d, ...params } = step;
  const t = nowMs();
  const id = await sys.createRaw({ input: { url }, steps: [params] });
  const status = await new Promise((resolve) => {
    const ws = new WebSocket(`${sys.base.replace('http', 'ws')}/api/tasks/${id}/events`);
    ws.onmessage = (m) => {
      const recv = nowMs();
      const msg = JSON.parse(m.data);
      const e = msg.type === 'event' ? msg.event : null;
      if (!e) return;
      const at = e.kind === 'progress' ? /@(\d+\.\d+)$/.exec(e.message ?? '') : null;
      if (at) stampLatencies.push(recv - Number(at[1]));
      if (e.kind === 'status' && ['succeeded', 'failed', 'canceled'].includes(e.status)) {
        ws.close();
        resolve(
          e.status === 'succeeded' ? e.status : `${e.status}: ${e.error?.code ?? ''} ${e.error?.message ?? e.message}`,
        );
      }
    };
    ws.onerror = () => resolve('socket error');
  });
  if (status !== 'succeeded') throw new Error(`clipyard ${step.op} task ended ${status} (task ${id})`);
  const res = await fetch(`${sys.base}/api/tasks/${id}/outputs/${output}`);
  const bytes = (await res.arrayBuffer()).byteLength;
  if (!res.ok || bytes === 0) throw new Error(`clipyard ${step.op} output download failed (${res.status})`);
  return nowMs() - t;
}

export async function mediaOverhead({ tree, seconds, log, running, reps }) {
  const { startClipyard } = await import('../systems/clipyard.mjs');
  const clip = makeClip(seconds);
  const outDir = path.join(WORK, 'media-out');
  mkdirSync(outDir, { recursive: true });
  const args = await import(path.join(tree, 'containers/ffmpeg/src/ffmpeg-args.ts'));
  const files = await serveFile(clip);
  const url = `http://127.0.0.1:${files.address().port}/clip.mp4`;
  const sys = await startClipyard({ tree, concurrency: 4, runner: 'real', stampProxy: startStampProxy });
  running?.add(sys);
  const rows = [];
  const stampLatencies = [];
  try {
    for (const step of STEPS) {
      const s = { ...step, duration: seconds };
      const raw = [];
      const cy = [];
      for (let i = 0; i < (reps ?? 2); i++) {
        raw.push(await rawOnce(args, s, clip, outDir));
        cy.push(await clipyardOnce(sys, s, url, step.op === 'transcode' ? stampLatencies : []));
      }
      const row = { op: step.op, rawMs: Math.min(...raw), clipyardMs: Math.min(...cy), raw, clipyard: cy };
      log(`   ${step.op}: raw ${row.rawMs.toFixed(0)} ms, clipyard ${row.clipyardMs.toFixed(0)} ms\n`);
      rows.push(row);
    }
  } finally {
    running?.delete(sys);
    await sys.stop();
    files.close();
    rmSync(outDir, { recursive: true, force: true });
  }
  const rawTotal = rows.reduce((s, r) => s + r.rawMs, 0);
  const clipyardTotal = rows.reduce((s, r) => s + r.clipyardMs, 0);
  return {
    clip: `${seconds} s, 1280x720 30 fps H.264 + AAC (ffmpeg testsrc2 + sine), ${statSync(clip).size} bytes`,
    ffmpeg: execFileSync('ffmpeg', ['-version']).toString().split('\n')[0],
    rows,
    rawTotal,
    clipyardTotal,
    ratio: clipyardTotal / rawTotal,
    transcodeProgress: summary(stampLatencies),
  };
}
