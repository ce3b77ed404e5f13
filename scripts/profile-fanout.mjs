// The per-event cost of progress and its fan-out, for before/after comparisons of one change:
//   node scripts/profile-fanout.mjs [--tree=<dir>] [--subs=0,1,10,100] [--tasks=2|10,2,..] [--updates=100] [--rate=10]
//
// Starts the local system from `tree` (default: this checkout) with the bench's synthetic runner. For
// each subscriber count S it creates `tasks` synthetic tasks of `updates` progress updates at `rate`/s
// (with a head start so every WebSocket is open before the first update), opens S WebSockets on each
// through the Worker, and reads workerd's CPU from /proc from the moment all sockets are open until
// every task's terminal status arrived. It prints one JSON line per S: workerd CPU ms per progress
// event (idle CPU of the same length subtracted), frames delivered, and emit -> receipt latency
// (p50/p99; noise on a loaded machine, for orientation only). The step from S to the next S, divided
// by the sockets added, is the cost of one frame to one more socket.
//
// Two more figures, for the end of a task: `closeCpuMsPerSocket` is workerd's CPU from the last
// terminal status until every socket's close event, per socket (each client closes at the terminal
// status, as the bench's do, and the object closes its sockets too; the tasks' own ends are in it,
// which is most of it at one subscriber); `lastUpdateP50Ms`/`lastUpdateMaxMs` are the latency of each
// task's last update, which can meet the other tasks' ends (bench/NOTES.md, "Progress latency"), and
// `latencyP50Ms`/`latencyP99Ms` cover the other updates only.
//
// Subscribers are Node's WebSocket; `extensions` is what the 101 agreed (`none` through npm start's
// front door; before it, every subscription got permessage-deflate and each frame was compressed once
// per socket).
// The "window open" line on stderr names workerd's pids, for a profiler attached from outside
// (perf record -g -p <pids>).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const tree = path.resolve(arg('tree', HERE));
const SUBS = arg('subs', '0,1,10,100').split(',').map(Number);
/** tasks per subscriber count: one number for all, or one per entry of --subs */
const TASK_COUNTS = arg('tasks', '2').split(',').map(Number);
const UPDATES = Number(arg('updates', 100));
const RATE_HZ = Number(arg('rate', 10));
/** Head start before the first update, so the sockets are open and the job has started. */
const DELAY_MS = 2_500;
const IDLE_SAMPLE_MS = 2_000;
const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

const { startWorker, stopProcess, freePort } = await import(path.join(tree, 'scripts/system.mjs'));

function descendants(pid) {
  const parents = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parents.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const all = [pid];
  for (let i = 0; i < all.length; i++) for (const [p, pp] of parents) if (pp === all[i]) all.push(p);
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
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

const runnerPort = await freePort();
const runner = spawn(process.execPath, [path.join(HERE, 'bench/systems/synthetic-runner.mjs')], {
  env: { ...process.env, PORT: String(runnerPort) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => runner.stdout.on('data', (d) => d.toString().includes('listening') && resolve()));
const port = await freePort();
const state = mkdtempSync(path.join(os.tmpdir(), 'clipyard-fanout-'));
const worker = await startWorker({
  port,
  runnerUrl: `http://127.0.0.1:${runnerPort}`,
  allowHosts: '127.0.0.1',
  vars: { MAX_CONCURRENT_TASKS: '100', MAX_TASKS_PER_DAY: '10000000' },
  persistTo: state,
  // FANOUT_LOG=1: the engine's output (the Worker's and objects' console) on stderr
  log: process.env.FANOUT_LOG ? (s) => process.stderr.write(s) : () => {},
});
const base = `http://127.0.0.1:${port}`;
const workerds = descendants(worker.pid).filter((p) => comm(p) === 'workerd');
const cpuAll = () => workerds.reduce((n, p) => n + cpuSeconds(p), 0);

async function create() {
  const res = await fetch(`${base}/api/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      input: { url: `http://127.0.0.1:${runnerPort}/synthetic?n=${UPDATES}&rate=${RATE_HZ}&delay=${DELAY_MS}` },
      steps: [{ op: 'probe' }],
    }),
  });
  const out = await res.json();
  if (res.status !== 202) throw new Error(`create answered ${res.status}: ${JSON.stringify(out)}`);
  return out.id;
}

/** One subscriber: resolves `done` at the terminal status; records latency of live progress frames. */
function subscribe(id, lat, counts) {
  const url = `ws://127.0.0.1:${port}/api/tasks/${id}/events`;
  const ws = new WebSocket(url);
  const closed = new Promise((resolve) => {
    ws.onclose = () => resolve();
  });
  const opened = new Promise((resolve, reject) => {
    ws.onopen = () => {
      counts.extensions = ws.extensions || 'none';
      resolve();
    };
    ws.onerror = reject;
  });
  const done = new Promise((resolve) => {
    ws.onmessage = (m) => {
      const recv = now();
      const msg = JSON.parse(m.data);
      if (msg.type !== 'event') return;
      const e = msg.event;
      if (e.kind === 'progress' && e.message.startsWith('tick ')) {
        counts.frames++;
        const [, i, at] = e.message.split(' ');
        (Number(i) === UPDATES ? counts.last : lat).push(recv - Number(at));
      } else if (e.kind === 'status' && ['succeeded', 'failed', 'canceled'].includes(e.status)) {
        ws.close();
        resolve();
      }
    };
  });
  return { opened, done, closed };
}

/** Polls each task until it ended; `firstAfterMs` spares the window from the polls' own cost. */
async function waitTerminal(ids, firstAfterMs = 0) {
  await sleep(firstAfterMs);
  for (;;) {
    const states = await Promise.all(
      ids.map(async (id) => (await (await fetch(`${base}/api/tasks/${id}`)).json()).status),
    );
    if (states.every((s) => ['succeeded', 'failed', 'canceled'].includes(s))) return;
    await sleep(250);
  }
}

await create().then((id) => waitTerminal([id])); // warm the isolate and the code paths
for (const [i, subs] of SUBS.entries()) {
  const TASKS = TASK_COUNTS[i] ?? TASK_COUNTS[0];
  await sleep(500);
  const idle0 = cpuAll();
  await sleep(IDLE_SAMPLE_MS);
  const idlePerMs = (cpuAll() - idle0) / IDLE_SAMPLE_MS;
  const ids = await Promise.all(Array.from({ length: TASKS }, create));
  const lat = [];
  const counts = { frames: 0, extensions: null, last: [] };
  const connect0 = cpuAll();
  process.stderr.write(`connecting: ${subs} subscriber(s) on ${TASKS} task(s), workerd ${workerds.join(' ')}\n`);
  const subscribers = ids.flatMap((id) => Array.from({ length: subs }, () => subscribe(id, lat, counts)));
  await Promise.all(subscribers.map((s) => s.opened));
  const cpu0 = cpuAll();
  const connectCpuMs = (cpu0 - connect0) * 1_000;
  const t0 = Date.now();
  // a marker for a profiler attached from outside (perf record -p <workerd>)
  process.stderr.write(`window open: ${subs} subscriber(s), workerd ${workerds.join(' ')}\n`);
  if (subs > 0) await Promise.all(subscribers.map((s) => s.done));
  else await waitTerminal(ids, DELAY_MS + (UPDATES / RATE_HZ) * 1_000);
  const elapsedMs = Date.now() - t0;
  const cpu1 = cpuAll();
  const cpuMs = (cpu1 - cpu0 - idlePerMs * elapsedMs) * 1_000;
  // the closes: from the last terminal status until every socket's close event (the client closes
  // at the terminal status, as the bench's clients do, and the object closes its sockets too)
  const tClose = Date.now();
  await Promise.all(subscribers.map((s) => s.closed));
  await sleep(200);
  const closeCpuMs = (cpuAll() - cpu1 - idlePerMs * (Date.now() - tClose)) * 1_000;
  const events = TASKS * UPDATES;
  console.log(
    JSON.stringify({
      tree: `${path.basename(tree)}@${spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: tree }).stdout?.toString().trim()}`,
      subs,
      tasks: TASKS,
      updates: UPDATES,
      rate: RATE_HZ,
      frames: counts.frames,
      framesExpected: events * subs,
      extensions: counts.extensions,
      elapsedMs,
      workerdCpuMs: Number(cpuMs.toFixed(0)),
      cpuMsPerEvent: Number((cpuMs / events).toFixed(3)),
      // upgrade, snapshot and replay, through the Worker (the tasks' creation included, its share is small)
      connectCpuMsPerSocket: subs > 0 ? Number((connectCpuMs / (TASKS * subs)).toFixed(2)) : null,
      closeCpuMsPerSocket: subs > 0 ? Number((closeCpuMs / (TASKS * subs)).toFixed(3)) : null,
      cpuUsPerFrame: subs > 0 ? Number(((cpuMs * 1_000) / (events * subs)).toFixed(1)) : null,
      latencyP50Ms: lat.length ? Number(percentile(lat, 50).toFixed(2)) : null,
      latencyP99Ms: lat.length ? Number(percentile(lat, 99).toFixed(2)) : null,
      // the last update of each task, which arrives while the other tasks end (see the header)
      lastUpdateP50Ms: counts.last.length ? Number(percentile(counts.last, 50).toFixed(2)) : null,
      lastUpdateMaxMs: counts.last.length ? Number(Math.max(...counts.last).toFixed(2)) : null,
    }),
  );
}
await stopProcess(worker);
runner.kill();
rmSync(state, { recursive: true, force: true });
