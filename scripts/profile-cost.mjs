// Control-plane cost per task, for before/after comparisons of one change:
//   node scripts/profile-cost.mjs [--tree=<dir>] [--tasks=200] [--updates=10] [--slots=100] [--fsync]
//
// Starts the local system from `tree` (default: this checkout; a copy of another commit works when
// its node_modules links to this one's) with the bench's synthetic runner, creates `tasks` tasks of a
// synthetic job with `updates` progress updates at 20/s (32 creates in flight), waits until all have
// finished, and prints one JSON line: workerd CPU ms per task (both workerd processes wrangler dev
// starts, from /proc), tasks/s, and with --fsync the fsync + fdatasync calls of workerd per task
// (strace -f -c). Local SQLite does not sync every WAL commit, so fsyncs are not commits: for writes
// per object class, set PROFILE_STRACE_CALLS=trace=pwrite64 PROFILE_STRACE_LOG=<file> and count the
// calls per file (strace -y names it). strace slows workerd: CPU and tasks/s of such a run are not
// comparable with a run without it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const tree = path.resolve(arg('tree', HERE));
const TASKS = Number(arg('tasks', 200));
const UPDATES = Number(arg('updates', 10));
const SLOTS = Number(arg('slots', 100));
const FSYNC = process.argv.includes('--fsync');
const IN_FLIGHT = 32;
const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

const { startWorker, stopProcess, freePort } = await import(path.join(tree, 'scripts/system.mjs'));

function children(pid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

function tree_(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}

function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

const runnerPort = await freePort();
const runner = spawn(process.execPath, [path.join(HERE, 'bench/systems/synthetic-runner.mjs')], {
  env: { ...process.env, PORT: String(runnerPort) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => runner.stdout.on('data', (d) => d.toString().includes('listening') && resolve()));
const port = await freePort();
const state = mkdtempSync(path.join(os.tmpdir(), 'clipyard-cost-'));
const worker = await startWorker({
  port,
  runnerUrl: `http://127.0.0.1:${runnerPort}`,
  allowHosts: '127.0.0.1',
  vars: { MAX_CONCURRENT_TASKS: String(SLOTS), MAX_TASKS_PER_DAY: '10000000' },
  persistTo: state,
  log: () => {},
});
const base = `http://127.0.0.1:${port}`;
const workerds = () => tree_(worker.pid).filter((p) => comm(p) === 'workerd');
if (process.env.PROFILE_DEBUG) console.error(tree_(worker.pid).map((p) => `${p} ${comm(p)} ${cpuSeconds(p)}`));
let strace = null;
if (FSYNC) {
  const attach = workerds().flatMap((p) => ['-p', String(p)]);
  const detail = process.env.PROFILE_STRACE_LOG;
  const how = detail ? ['-y', '-o', detail] : ['-c', ...(process.env.PROFILE_STRACE_WALL ? ['-w'] : [])];
  strace = spawn(
    'strace',
    ['-f', ...how, '-e', process.env.PROFILE_STRACE_CALLS ?? 'trace=fsync,fdatasync', ...attach],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let text = '';
  strace.stderr.on('data', (d) => {
    text += d.toString();
  });
  strace.summary = () => text;
  await new Promise((r) => setTimeout(r, 500));
}

const body = JSON.stringify({
  input: { url: `http://127.0.0.1:${runnerPort}/synthetic?n=${UPDATES}&rate=20&delay=0` },
  steps: [{ op: 'probe' }],
});
const cpuAll = () => workerds().reduce((n, p) => n + cpuSeconds(p), 0);
const cpu0 = cpuAll();
const t0 = Date.now();
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
      await res?.body?.cancel();
    }
  }),
);
let finished = 0;
for (;;) {
  const h = await (await fetch(`${base}/api/health`)).json().catch(() => null);
  const q = h?.queue ?? {};
  finished = (q.succeeded ?? 0) + (q.failed ?? 0) + (q.canceled ?? 0);
  if (finished >= TASKS - createErrors || Date.now() - t0 > 600_000) break;
  await new Promise((r) => setTimeout(r, 100));
}
const seconds = (Date.now() - t0) / 1_000;
const cpu = cpuAll() - cpu0;
if (process.env.PROFILE_DEBUG) console.error(tree_(worker.pid).map((p) => `${p} ${comm(p)} ${cpuSeconds(p)}`));
let commits = null;
if (strace) {
  strace.kill('SIGINT');
  await new Promise((r) => strace.once('exit', r));
  const calls = [
    ...strace.summary().matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$/gm),
  ];
  commits = calls.reduce((n, m) => n + Number(m[1]), 0);
  // PROFILE_STRACE_WALL=1: strace -c -w, time in each call is wall time (how long it held the thread)
  if (process.env.PROFILE_DEBUG || process.env.PROFILE_STRACE_WALL) console.error(strace.summary());
}
await stopProcess(worker);
runner.kill();
rmSync(state, { recursive: true, force: true });
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: tree }).stdout?.toString().trim();
console.log(
  JSON.stringify({
    tree: commit || tree,
    tasks: TASKS,
    updates: UPDATES,
    finished,
    createErrors,
    seconds: Number(seconds.toFixed(1)),
    tasksPerSecond: Number((finished / seconds).toFixed(1)),
    workerdCpuMsPerTask: Number(((cpu * 1_000) / TASKS).toFixed(1)),
    ...(commits !== null ? { fsyncsPerTask: Number((commits / TASKS).toFixed(1)) } : {}),
  }),
);
