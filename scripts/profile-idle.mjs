// How many Durable Objects workerd holds open over a run, and what they cost in memory:
//   node scripts/profile-idle.mjs [--tasks=1000] [--updates=10] [--slots=100] [--in-flight=32]
//     [--watch=30] [--every=1000] [--creates-only] [--tree=<dir>]
// (CLIPYARD_IDLE_RELEASE_MS=0 in the environment turns idle release off, src/objects/idle-release.ts)
//
// Starts the local engine (scripts/local-engine.mjs, Miniflare's API) and the bench's synthetic
// runner, creates `tasks` tasks of the `updates`-update job (`in-flight` creates at a time), waits
// until they finished (or, with --creates-only, until they exist), then keeps watching for `watch`
// seconds with nothing sent. Every `every` ms it prints workerd's RSS and the number of object
// databases workerd has open, by namespace (a live object keeps its SQLite file open; an evicted
// one has closed it), which is how this tells live objects from evicted ones without touching the
// code under test. At the end: the peak of each, RSS per live object at the peak, and workerd's and
// the whole system's CPU per task. `--tree=<dir>` runs another checkout's engine (an A/B against main).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processCpuMs, processTree, rssOf } from './proc-stats.mjs';

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const TASKS = Number(arg('tasks', 1000));
const UPDATES = Number(arg('updates', 10));
const SLOTS = Number(arg('slots', 100));
const IN_FLIGHT = Number(arg('in-flight', 32));
const WATCH_S = Number(arg('watch', 30));
const EVERY_MS = Number(arg('every', 1000));
const CREATES_ONLY = process.argv.includes('--creates-only');
const TREE = path.resolve(arg('tree', HERE));
const DRAIN_TIMEOUT_MS = 900_000;

const { startWorker, stopProcess, freePort } = await import(path.join(TREE, 'scripts/system.mjs'));

const runnerPort = await freePort();
const runner = spawn(process.execPath, [path.join(HERE, 'bench/systems/synthetic-runner.mjs')], {
  env: { ...process.env, PORT: String(runnerPort) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => runner.stdout.on('data', (d) => d.toString().includes('listening') && resolve()));
const port = await freePort();
const state = mkdtempSync(path.join(os.tmpdir(), 'clipyard-idle-'));
let engineOut = '';
const worker = await startWorker({
  port,
  runnerUrl: `http://127.0.0.1:${runnerPort}`,
  allowHosts: '127.0.0.1',
  vars: { MAX_CONCURRENT_TASKS: String(SLOTS), MAX_TASKS_PER_DAY: '10000000' },
  persistTo: state,
  engine: 'miniflare',
  log: (s) => {
    engineOut += s;
  },
});
const workerd = processTree(worker.pid).find((p) => p.comm === 'workerd');

/** Object databases workerd has open, by namespace directory (the class's unique key). */
function openDatabases() {
  const out = {};
  let fds = [];
  try {
    fds = readdirSync(`/proc/${workerd.pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${workerd.pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (!target.startsWith(state) || !target.endsWith('.sqlite')) continue;
    const ns = path.basename(path.dirname(target)).replace(/^clipyard-/, '');
    out[ns] = (out[ns] ?? 0) + 1;
  }
  return out;
}

const base = `http://127.0.0.1:${port}`;
const body = JSON.stringify({
  input: { url: `http://127.0.0.1:${runnerPort}/synthetic?n=${UPDATES}&rate=10` },
  steps: [{ op: 'probe' }],
});
const started = Date.now();
let created = 0;
let createErrors = 0;
let finished = 0;
let phase = 'create';
const samples = [];
const mb = (n) => Math.round(n / 2 ** 20);
const sample = () => {
  const dbs = openDatabases();
  const live = Object.values(dbs).reduce((a, b) => a + b, 0);
  const total = [...processTree(worker.pid), { pid: runner.pid }].reduce((n, p) => n + rssOf(p.pid), 0);
  const s = { t: (Date.now() - started) / 1000, phase, created, finished, dbs, live, rss: rssOf(workerd.pid), total };
  samples.push(s);
  const ns = Object.entries(dbs)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  console.log(
    `${s.t.toFixed(1).padStart(6)} s  ${phase.padEnd(6)} created ${String(created).padStart(5)}  finished ${String(finished).padStart(5)}  ` +
      `open dbs ${String(live).padStart(5)} (${ns})  workerd RSS ${mb(s.rss)} MB, system ${mb(s.total)} MB`,
  );
};
sample();
const baseRss = samples[0].rss;
const timer = setInterval(sample, EVERY_MS);

let next = 0;
await Promise.all(
  Array.from({ length: IN_FLIGHT }, async () => {
    while (next < TASKS) {
      next++;
      const res = await fetch(`${base}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).catch(() => null);
      if (res?.status === 202) created++;
      else createErrors++;
      await res?.body?.cancel();
    }
  }),
);
const createSeconds = (Date.now() - started) / 1000;
phase = 'drain';
for (; !CREATES_ONLY; ) {
  const h = await (await fetch(`${base}/api/health`)).json().catch(() => null);
  const q = h?.queue ?? {};
  finished = (q.succeeded ?? 0) + (q.failed ?? 0) + (q.canceled ?? 0);
  if (finished >= created || Date.now() - started > DRAIN_TIMEOUT_MS) break;
  await new Promise((r) => setTimeout(r, 250));
}
const drainSeconds = (Date.now() - started) / 1000;
const cpuAtDrain = processCpuMs(workerd.pid);
const systemCpuAtDrain = processTree(worker.pid).reduce((n, p) => n + processCpuMs(p.pid), 0);
phase = 'idle';
await new Promise((r) => setTimeout(r, WATCH_S * 1000));
clearInterval(timer);
sample();
const cpuAtEnd = processCpuMs(workerd.pid);
await stopProcess(worker);
runner.kill();
rmSync(state, { recursive: true, force: true });

const busy = samples.filter((s) => s.phase !== 'idle');
const peakRss = Math.max(...busy.map((s) => s.rss));
const peakLive = Math.max(...busy.map((s) => s.live));
const peakTotal = Math.max(...busy.map((s) => s.total));
const last = samples[samples.length - 1];
console.log(
  `\n${TASKS} tasks of ${UPDATES} updates, ${SLOTS} slots: created ${created} (errors ${createErrors}) in ${createSeconds.toFixed(1)} s, ` +
    `finished ${finished} at ${drainSeconds.toFixed(1)} s (${(finished / drainSeconds).toFixed(1)} tasks/s)` +
    `\n  workerd CPU to the drain ${Math.round(cpuAtDrain)} ms (${(cpuAtDrain / Math.max(1, finished || created)).toFixed(2)} ms/task), ` +
    `engine tree ${Math.round(systemCpuAtDrain)} ms; idle ${WATCH_S} s after it: ${Math.round(cpuAtEnd - cpuAtDrain)} ms` +
    `\n  peak open object databases ${peakLive}; workerd RSS before ${mb(baseRss)} MB, at peak ${mb(peakRss)} MB ` +
    `(${((peakRss - baseRss) / 1024 / Math.max(1, peakLive - samples[0].live)).toFixed(0)} KB per object opened); ` +
    `after ${WATCH_S} s idle: ${last.live} open, ${mb(last.rss)} MB; peak system RSS (engine, workerd, runner) ${mb(peakTotal)} MB` +
    (engineOut.match(/error/i) ? `\n  the engine printed errors:\n${engineOut.slice(0, 4000)}` : ''),
);
