// A CPU profile of workerd under the bench's load, for deciding what to cut:
//   node scripts/profile-cpu.mjs [--tasks=200] [--updates=10] [--slots=100] [--in-flight=32]
//     [--targets=core:user:clipyard,core:entry|none] [--interval-us=500] [--split | --creates-only]
//     [--perf [--perf-hz=999]] [--out=<dir>]
//
// Starts the local engine (scripts/local-engine.mjs, Miniflare's API) with workerd's V8 inspector on a
// free port and the bench's synthetic runner, starts the V8 sampling profiler (CDP Profiler.start) in
// each target isolate (core:user:clipyard runs the Worker and every Durable Object; core:entry is
// Miniflare's entry worker, which every request passes), creates `tasks` tasks of the `updates`-update
// job with `in-flight` creates at a time, waits until all finished, stops the profilers and writes one
// .cpuprofile per target (open it in Chrome DevTools' Performance panel) and a summary (self time by
// bucket, source file and function; cpu-profile-summary.mjs). With --split the create burst and the
// drain after it are two profiles each. It also prints what the JS profile cannot see: workerd's CPU
// from /proc (all threads) against the profiles' busy time, per thread, and with --perf a `perf record`
// of workerd by shared object (SQLite, V8, kj, libc). The V8 heap of each isolate
// (Runtime.getHeapUsage) and every process's RSS are sampled at the peak of live tasks.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSummary, summarize } from './cpu-profile-summary.mjs';
import { cdp } from './inspector-client.mjs';
import { parsePerfScript, summarizePerf } from './perf-summary.mjs';
import { processCpuMs, processTree, reapedChildrenCpuMs, rssOf, threadCpu } from './proc-stats.mjs';

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const TASKS = Number(arg('tasks', 200));
const UPDATES = Number(arg('updates', 10));
const SLOTS = Number(arg('slots', 100));
const IN_FLIGHT = Number(arg('in-flight', 32));
const INTERVAL_US = Number(arg('interval-us', 500));
// `none`: no JS profile (the V8 sampler costs workerd CPU of its own; for a --perf run alone)
const TARGETS = arg('targets', 'core:user:clipyard')
  .split(',')
  .filter((t) => t && t !== 'none');
const PERF_HZ = Number(arg('perf-hz', 999));
const SPLIT = process.argv.includes('--split');
// only the create burst: stop once every task exists (the create-latency row; with --slots=1 it
// leaves nearly every task waiting, which shows the memory of an idle waiting object)
const CREATES_ONLY = process.argv.includes('--creates-only');
// WebSocket subscribers per task (the progress rows: e.g. --tasks=2 --updates=40 --subs=100 --delay=3000)
const SUBS = Number(arg('subs', 0));
const DELAY_MS = Number(arg('delay', SUBS ? 3_000 : 0));
const RATE_HZ = Number(arg('rate', 20));
const PERF = process.argv.includes('--perf');
const OUT = path.resolve(arg('out', path.join(HERE, 'bench/.work/profile')));
const DRAIN_TIMEOUT_MS = 900_000;
const POLL_MS = 250;

const { startWorker, stopProcess, freePort } = await import(path.join(HERE, 'scripts/system.mjs'));

const runnerPort = await freePort();
const runner = spawn(process.execPath, [path.join(HERE, 'bench/systems/synthetic-runner.mjs')], {
  env: { ...process.env, PORT: String(runnerPort) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => runner.stdout.on('data', (d) => d.toString().includes('listening') && resolve()));
const port = await freePort();
const state = mkdtempSync(path.join(os.tmpdir(), 'clipyard-cpu-'));
let engineOut = '';
const worker = await startWorker({
  port,
  runnerUrl: `http://127.0.0.1:${runnerPort}`,
  allowHosts: '127.0.0.1',
  vars: { MAX_CONCURRENT_TASKS: String(SLOTS), MAX_TASKS_PER_DAY: '10000000' },
  persistTo: state,
  engine: 'miniflare',
  inspectorPort: 0,
  log: (s) => {
    engineOut += s;
  },
});
const inspector = /inspector on (ws:\/\/\S+?)\/?\s/.exec(engineOut)?.[1];
if (!inspector) throw new Error(`the local engine printed no inspector address:\n${engineOut}`);
const tree = () => processTree(worker.pid);
const workerd = tree().find((p) => p.comm === 'workerd');
// the bundle local-engine.mjs built (named after its process): its module comments name each line's file
const bundle = readFileSync(path.join(HERE, '.wrangler/engine', `wrangler-${worker.pid}`, 'index.js'), 'utf8');

const sessions = [];
for (const t of TARGETS) {
  const s = await cdp(`${inspector}/${t}`);
  await s.send('Profiler.enable');
  await s.send('Profiler.setSamplingInterval', { interval: INTERVAL_US });
  sessions.push({ target: t, s });
}
const profiles = [];
async function startProfiles() {
  for (const { s } of sessions) await s.send('Profiler.start');
  return { cpu: threadCpu(workerd.pid), at: Date.now() };
}
async function stopProfiles(phase, t0) {
  const cpu = threadCpu(workerd.pid);
  for (const { target, s } of sessions) {
    const { profile } = await s.send('Profiler.stop');
    profiles.push({ phase, target, profile });
  }
  const threads = {};
  for (const [tid, v] of Object.entries(cpu)) threads[`${v.name} ${tid}`] = v.ms - (t0.cpu[tid]?.ms ?? 0);
  return { phase, wallMs: Date.now() - t0.at, threads };
}

let perf = null;
if (PERF) {
  mkdirSync(OUT, { recursive: true });
  perf = spawn(
    'perf',
    ['record', '-F', String(PERF_HZ), '-g', '-o', path.join(OUT, 'workerd.perf.data'), '-p', String(workerd.pid)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
}

const base = `http://127.0.0.1:${port}`;
const body = JSON.stringify({
  input: { url: `http://127.0.0.1:${runnerPort}/synthetic?n=${UPDATES}&rate=${RATE_HZ}&delay=${DELAY_MS}` },
  steps: [{ op: 'probe' }],
});
const sockets = [];
let framesReceived = 0;
let socketsDone = 0;
const TERMINAL = ['succeeded', 'failed', 'canceled'];
/** SUBS sockets on task `id`, each counting the frames it receives until the task's terminal status. */
function subscribe(id) {
  for (let i = 0; i < SUBS; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/tasks/${id}/events`);
    let done = false;
    ws.onmessage = (m) => {
      framesReceived++;
      const msg = JSON.parse(String(m.data));
      if (!done && msg.type === 'event' && msg.event.kind === 'status' && TERMINAL.includes(msg.event.status)) {
        done = true;
        socketsDone++;
      }
    };
    sockets.push(ws);
  }
}
const windows = [];
let t0 = await startProfiles();
const started = Date.now();
let next = 0;
let createErrors = 0;
await Promise.all(
  Array.from({ length: IN_FLIGHT }, async () => {
    while (next < TASKS) {
      next++;
      const res = await fetch(`${base}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).catch(() => null);
      if (res?.status !== 202) createErrors++;
      if (SUBS && res?.status === 202) subscribe((await res.json()).id);
      else await res?.body?.cancel();
    }
  }),
);
const createSeconds = (Date.now() - started) / 1_000;
// the peak of live tasks: every task exists, most still wait for a slot or stream their job
const heapAtPeak = {};
for (const { target, s } of sessions) heapAtPeak[target] = await s.send('Runtime.getHeapUsage');
const rssAtPeak = [...tree(), { pid: runner.pid, comm: 'synthetic runner' }].map((p) => ({
  pid: p.pid,
  comm: p.comm,
  rssMb: Math.round(rssOf(p.pid) / 2 ** 20),
}));
if (SPLIT || CREATES_ONLY) windows.push(await stopProfiles('create', t0));
if (SPLIT) t0 = await startProfiles();
let finished = 0;
// with subscribers the sockets tell when every task ended (no health polls in the profile)
while (SUBS && !CREATES_ONLY && socketsDone < sockets.length && Date.now() - started < DRAIN_TIMEOUT_MS) {
  await new Promise((r) => setTimeout(r, POLL_MS));
}
for (; !CREATES_ONLY; ) {
  const h = await (await fetch(`${base}/api/health`)).json().catch(() => null);
  const q = h?.queue ?? {};
  finished = (q.succeeded ?? 0) + (q.failed ?? 0) + (q.canceled ?? 0);
  if (finished >= TASKS - createErrors || Date.now() - started > DRAIN_TIMEOUT_MS) break;
  await new Promise((r) => setTimeout(r, POLL_MS));
}
const seconds = (Date.now() - started) / 1_000;
if (!CREATES_ONLY) windows.push(await stopProfiles(SPLIT ? 'drain' : 'all', t0));
for (const ws of sockets) ws.close();
// the engine's own CPU and its reaped helpers' (the once-a-second `sync -f` of CLIPYARD_SQLITE_SYNC)
const engineCpuMs = processCpuMs(worker.pid);
const syncCpuMs = reapedChildrenCpuMs(worker.pid);
const heapAfter = {};
for (const { target, s } of sessions) heapAfter[target] = await s.send('Runtime.getHeapUsage');
if (perf) {
  perf.kill('SIGINT');
  perf.stderr.resume();
  await new Promise((r) => perf.once('exit', r));
}
for (const { s } of sessions) s.close();
await stopProcess(worker);
runner.kill();
rmSync(state, { recursive: true, force: true });

mkdirSync(OUT, { recursive: true });
writeFileSync(path.join(OUT, 'index.js'), bundle);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const mb = (n) => Math.round(n / 2 ** 20);
console.log(
  `${TASKS} tasks of ${UPDATES} updates, ${SLOTS} slots, ${IN_FLIGHT} creates in flight: finished ${finished}, ` +
    `create errors ${createErrors}, creates ${createSeconds.toFixed(1)} s, all ${seconds.toFixed(1)} s ` +
    `(${(finished / seconds).toFixed(1)} tasks/s), sampling every ${INTERVAL_US} us` +
    (SUBS ? `; ${SUBS} subscribers per task received ${framesReceived} frames` : ''),
);
for (const w of windows) {
  const ps = profiles.filter((p) => p.phase === w.phase);
  const sums = ps.map((p) => ({ ...p, sum: summarize(p.profile, { bundle, top: 30 }) }));
  const threadMs = Object.values(w.threads).reduce((a, b) => a + b, 0);
  const busyMs = sums.reduce((a, p) => a + p.sum.busyMs, 0);
  console.log(
    `\n== ${w.phase}: ${(w.wallMs / 1000).toFixed(1)} s wall; workerd /proc CPU ${Math.round(threadMs)} ms ` +
      `(${(threadMs / TASKS).toFixed(1)} ms/task); JS isolates busy ${busyMs} ms; outside the profiled isolates ` +
      `${Math.round(threadMs - busyMs)} ms (${(((threadMs - busyMs) / threadMs) * 100).toFixed(0)}%)`,
  );
  console.log(
    `   threads: ${Object.entries(w.threads)
      .filter(([, ms]) => ms > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, ms]) => `${k} ${Math.round(ms)} ms`)
      .join(', ')}`,
  );
  for (const p of sums) {
    const file = path.join(OUT, `${stamp}-${p.phase}-${p.target.replace(/[^\w-]+/g, '_')}.cpuprofile`);
    writeFileSync(file, JSON.stringify(p.profile));
    console.log(`\n${formatSummary(p.sum, { label: `${p.target} (${p.phase})`, tasks: TASKS })}\n  saved ${file}`);
  }
}
console.log(
  `\n== engine parent: ${Math.round(engineCpuMs)} ms CPU over the run (start included); its reaped helpers ` +
    `(the build, sync -f) ${Math.round(syncCpuMs)} ms`,
);
console.log('\n== memory');
for (const [t, h] of Object.entries(heapAtPeak))
  console.log(
    `  V8 heap ${t}: at peak used ${mb(h.usedSize)} MB of ${mb(h.totalSize)} MB; after drain used ${mb(heapAfter[t].usedSize)} MB`,
  );
for (const p of rssAtPeak) console.log(`  RSS at peak: ${p.comm} ${p.pid} ${p.rssMb} MB`);
if (perf) {
  const script = spawnSync('perf', ['script', '-i', path.join(OUT, 'workerd.perf.data')], {
    encoding: 'utf8',
    maxBuffer: 2 ** 30,
  });
  const p = summarizePerf(parsePerfScript(script.stdout));
  const cpuMs = windows.reduce((n, w) => n + Object.values(w.threads).reduce((a, b) => a + b, 0), 0);
  const ms = (pct) => `${Math.round((pct * cpuMs) / 100)} ms, ${((pct * cpuMs) / 100 / TASKS).toFixed(2)} ms/task`;
  console.log(
    `\n== perf: ${p.samples} on-CPU samples of workerd (${PERF_HZ} Hz), shares of its ${Math.round(cpuMs)} ms CPU`,
  );
  for (const b of p.buckets) console.log(`  ${b.pct.toFixed(1).padStart(5)}%  ${b.key} (${ms(b.pct)})`);
  console.log(`  by thread: ${p.threads.map((t) => `${t.key} ${t.pct}%`).join(', ')}`);
}
