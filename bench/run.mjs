// `npm run bench [-- --quick] [-- --only=clipyard,bullmq,celery,media,hls]` (`--only=transcribe`: bench/TRANSCRIBE.md)
// `-- --parts=progress` (any of create,progress,reconnect,scaling,meter): only those scenarios of each system.
//
// Runs clipyard, BullMQ and Celery one after the other on this machine (each alone, so they never
// compete for the 2 cores), each through the same scenarios with the same synthetic job, then the
// media-overhead run (clipyard with the real runner against raw ffmpeg). Writes bench/RESULTS.md,
// bench/results.json and bench/chart.svg. Peers are installed when missing (see lib/install.mjs).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeChart } from './lib/chart.mjs';
import { ensurePeers } from './lib/install.mjs';
import { BENCH, pinTrees, WORK } from './lib/proc.mjs';
import { tree } from './lib/procs.mjs';
import { writeReport } from './lib/report.mjs';
import { snapshotHead } from './lib/snapshot.mjs';
import { sleep } from './lib/stats.mjs';
import { createLatency, drain, progressLatency, reconnectLoss, throughput } from './scenarios/control-plane.mjs';
import { hlsOverhead } from './scenarios/hls.mjs';
import { mediaOverhead } from './scenarios/media.mjs';
import { startBullmq } from './systems/bullmq.mjs';
import { startCelery } from './systems/celery.mjs';
import { startClipyard } from './systems/clipyard.mjs';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const only = (
  argv.find((a) => a.startsWith('--only='))?.slice(7) ?? 'clipyard,bullmq,celery,engines,pinned,media,hls'
).split(',');
/** `--scaling=100,1000`: other sizes for the throughput/scaling rows. */
const scalingArg = argv.find((a) => a.startsWith('--scaling='))?.slice(10);
/** `--parts=progress,reconnect`: run only these scenarios of each system (default: all). */
const partsArg =
  argv
    .find((a) => a.startsWith('--parts='))
    ?.slice(8)
    .split(',') ?? null;
const log = (s) => process.stderr.write(s);

/** Worker concurrency of every system (clipyard: MAX_CONCURRENT_TASKS for the one local tenant). */
const CONCURRENCY = 100;
/** How often the Celery page polls the task's result. */
const POLL_MS = 500;
const RATE = 10;
/** The longest a scaling size may take (10,000 tasks at clipyard's local rate need several minutes). */
const SCALING_MAX_MS = 720_000;

const plan = quick
  ? {
      create: [
        { concurrency: 1, count: 10 },
        { concurrency: 32, count: 32 },
      ],
      progress: { tasks: 1, subs: [1, 10], job: { n: 10, rate: RATE, delay: 1_000 } },
      reconnect: { tasks: 1, job: { n: 20, rate: RATE }, dropAfter: 5, awayMs: 500 },
      scaling: [20],
      pinnedScaling: [20],
      engineScaling: [20],
      meterTasks: 10,
      throughputJob: { n: 10, rate: RATE },
      media: { seconds: 5, reps: 1 },
      hls: { seconds: 10, reps: 1 },
    }
  : {
      create: [
        { concurrency: 1, count: 100 },
        { concurrency: 32, count: 160 },
      ],
      progress: { tasks: 2, subs: [1, 10, 100], job: { n: 40, rate: RATE, delay: 3_000 } },
      reconnect: { tasks: 4, job: { n: 40, rate: RATE }, dropAfter: 15, awayMs: 1_000 },
      scaling: [100, 1_000, 10_000],
      // issue 11 asks that 5,000 and 10,000 tasks finish: clipyard alone runs the 5,000 row too
      ownScaling: [100, 1_000, 5_000, 10_000],
      pinnedScaling: [300],
      engineScaling: [300],
      meterTasks: 200,
      throughputJob: { n: 10, rate: RATE },
      media: { seconds: 30, reps: 1 },
      hls: { seconds: 30, reps: 1 },
    };

if (scalingArg) plan.scaling = scalingArg.split(',').map(Number);

/** Systems still running, stopped on Ctrl-C or a crash so no server outlives the bench. */
const running = new Set();
async function stopAll() {
  await Promise.allSettled([...running].map((s) => s.stop()));
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    void stopAll().then(() => process.exit(130));
  });
}

/**
 * Start a system, run the parts of the plan named in `parts` (create, progress, reconnect, scaling:
 * a list of sizes), stop it. `pin`: every process of the system on CPU 1, the bench client on CPU 0.
 */
async function runSystem(name, startFn, parts = {}) {
  const { pin = false } = parts;
  const wanted = (part) => partsArg === null || partsArg.includes(part);
  const create = (parts.create ?? true) && wanted('create');
  const progress = (parts.progress ?? true) && wanted('progress');
  const reconnect = (parts.reconnect ?? true) && wanted('reconnect');
  const scaling = wanted('scaling') ? (parts.scaling ?? plan.scaling) : [];
  const meter = wanted('meter') ? parts.meter : undefined;
  log(`\n== ${name}: starting${pin ? ' (pinned to CPU 1)' : ''}\n`);
  let sys;
  try {
    sys = await startFn();
  } catch (err) {
    // a system that does not start is reported as such; the run goes on with the others
    const error = err instanceof Error ? err.message : String(err);
    log(`   ${name} did not start: ${error}\n`);
    return { name, label: name, version: '', pinned: pin, create: [], progress: [], scaling: [], error };
  }
  running.add(sys);
  sys.created = 0;
  const out = { name: sys.name, label: name, version: sys.version, pinned: pin, create: [], progress: [], scaling: [] };
  try {
    if (pin) pinTrees(sys.roots, 1, tree);
    // Warm-up: first requests pay for JIT, connection set-up and module loading in every system.
    for (let i = 0; i < 10; i++) await sys.create({ n: 1, rate: RATE });
    sys.created += 10;
    await drain(sys, sys.created, 60_000);
    for (const c of create ? plan.create : []) {
      log(`   create latency, concurrency ${c.concurrency} x ${c.count}\n`);
      out.create.push({ ...c, ...(await createLatency(sys, { ...c, job: { n: 1, rate: RATE } })) });
      await drain(sys, sys.created, 120_000);
    }
    for (const subs of progress ? plan.progress.subs : []) {
      log(`   progress latency, ${subs} subscriber(s) on ${plan.progress.tasks} task(s)\n`);
      const r = await progressLatency(sys, { tasks: plan.progress.tasks, subs, job: plan.progress.job });
      out.progress.push({ subs, tasks: plan.progress.tasks, ...r });
      await drain(sys, sys.created, 60_000);
    }
    if (reconnect) {
      log('   events lost across a reconnect\n');
      out.reconnect = await reconnectLoss(sys, plan.reconnect);
      await drain(sys, sys.created, 60_000);
    }
    for (const count of scaling) {
      log(`   throughput, ${count} tasks\n`);
      // A size that has not finished in this time is reported as timed out (with the tasks done by then).
      const timeoutMs = quick ? 60_000 : Math.min(SCALING_MAX_MS, Math.max(90_000, count * 60));
      const r = await throughput(sys, { count, job: plan.throughputJob, timeoutMs });
      log(
        `     ${r.tasksPerSecond.toFixed(1)} tasks/s, ${r.seconds.toFixed(1)} s, complete=${r.complete}, ` +
          `CPU ${r.cpuMsPerTask.toFixed(1)} ms/task${r.writesPerTask === null ? '' : `, ${r.writesPerTask.toFixed(1)} writes/task`}\n`,
      );
      out.scaling.push(r);
      if (!r.complete) break;
    }
    if (meter) {
      log(`   metered: ${meter} tasks of the ${plan.throughputJob.n}-update job\n`);
      const before = await sys.meter(true);
      const r = await throughput(sys, { count: meter, job: plan.throughputJob, timeoutMs: 120_000 });
      // the last report of an ended task may land after the counter says done: let it settle
      await sleep(2_000);
      const m = await sys.meter();
      out.meter = { tasks: r.finished, complete: r.complete, before, ...m };
    }
  } catch (err) {
    // A system that fails (or wedges) mid-run is reported with what it measured until then.
    out.error = err instanceof Error ? err.message : String(err);
    log(`   ${name} failed: ${out.error}\n`);
  } finally {
    running.delete(sys);
    await sys.stop();
  }
  return out;
}

// Transcription quality is its own run (a corpus through each engine): only when asked for by name.
if (only.includes('transcribe')) {
  const { transcribeBench } = await import('./scenarios/transcribe.mjs');
  await transcribeBench({ log, quick });
  if (only.length === 1) process.exit(0);
}

const started = new Date();
const head = snapshotHead();
log(`measuring clipyard at ${head.commit.slice(0, 12)} (${head.subject}), copied to ${head.dir}\n`);
ensurePeers({ log, needCelery: only.includes('celery'), needBullmq: only.includes('bullmq') });
const results = {
  date: started.toISOString(),
  quick,
  machine: {
    cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadBefore: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  },
  commit: { hash: head.commit, subject: head.subject },
  config: { concurrency: CONCURRENCY, pollMs: POLL_MS, rate: RATE, plan },
  systems: [],
};
const suffix = quick ? '.quick' : '';
/** A quick run is a smoke test: its report goes to bench/.work, never over the committed one. */
const OUT = quick ? WORK : BENCH;
/** Write what has been measured so far (after every system, so a later failure loses nothing). */
function save() {
  results.seconds = (Date.now() - started.getTime()) / 1_000;
  results.machine.loadAfter = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  mkdirSync(OUT, { recursive: true });
  writeFileSync(path.join(OUT, `results${suffix}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeChart(results, path.join(OUT, `chart${suffix}.svg`));
  writeReport(results, path.join(OUT, `RESULTS${suffix}.md`), `chart${suffix}.svg`);
  // The report and its numbers are committed: format them as the repository's lint expects.
  spawnSync(
    path.join(BENCH, '..', 'node_modules/.bin/biome'),
    ['format', '--write', path.join(OUT, `RESULTS${suffix}.md`), path.join(OUT, `results${suffix}.json`)],
    {
      stdio: 'ignore',
    },
  );
}

const clipyard =
  (o = {}) =>
  () =>
    startClipyard({ tree: head.dir, concurrency: CONCURRENCY, runner: 'synthetic', ...o });
const bullmq = (aof) => () => startBullmq({ concurrency: CONCURRENCY, aof });
const celery = (aof) => () => startCelery({ concurrency: CONCURRENCY, pollMs: POLL_MS, aof });
/** The peers with Redis durability: create latency and throughput, where fsync can matter. */
const durableParts = { progress: false, reconnect: false, scaling: plan.scaling.filter((n) => n <= 1_000) };

if (only.includes('clipyard')) {
  results.systems.push(
    await runSystem('clipyard', clipyard(), scalingArg || !plan.ownScaling ? {} : { scaling: plan.ownScaling }),
  );
  save();
}
if (only.includes('bullmq')) {
  results.systems.push(await runSystem('BullMQ', bullmq(false)));
  save();
  results.systems.push(await runSystem('BullMQ (AOF)', bullmq(true), durableParts));
  save();
}
if (only.includes('celery')) {
  results.systems.push(await runSystem('Celery', celery(false)));
  save();
  results.systems.push(await runSystem('Celery (AOF)', celery(true), durableParts));
  save();
}
if (only.includes('clipyard')) {
  // Billing counters come from the metered entry, in a run of its own so no timing includes them.
  const m = await runSystem('clipyard (metered)', clipyard({ metered: true, label: 'clipyard (metered)' }), {
    create: false,
    progress: false,
    reconnect: false,
    scaling: [],
    meter: plan.meterTasks,
  });
  results.metered = m;
  save();
}
if (only.includes('engines')) {
  // npm start's engine: wrangler dev against the same bundle on Miniflare's API, same scenarios.
  const engineParts = { progress: false, reconnect: false, scaling: plan.engineScaling };
  results.engines = [];
  for (const engine of ['wrangler', 'miniflare']) {
    results.engines.push(await runSystem(`clipyard on ${engine}`, clipyard({ engine }), engineParts));
    save();
  }
}
if (only.includes('pinned')) {
  // One core for each system: what "one workerd thread" compares with. The client runs on the other.
  spawnSync('taskset', ['-a', '-c', '-p', '0', String(process.pid)], { stdio: 'ignore' });
  const pinParts = { pin: true, progress: false, reconnect: false, scaling: plan.pinnedScaling };
  results.pinned = [];
  for (const [name, fn] of [
    ['clipyard', clipyard()],
    ['BullMQ (AOF)', bullmq(true)],
    ['Celery (AOF)', celery(true)],
  ]) {
    results.pinned.push(await runSystem(`${name}, pinned`, fn, pinParts));
    save();
  }
  spawnSync('taskset', ['-a', '-c', '-p', '0,1', String(process.pid)], { stdio: 'ignore' });
}
if (only.includes('media')) {
  log('\n== media overhead: clipyard with the real runner against raw ffmpeg\n');
  try {
    results.media = await mediaOverhead({
      tree: head.dir,
      seconds: plan.media.seconds,
      reps: plan.media.reps,
      log,
      running,
    });
  } catch (err) {
    results.mediaError = err instanceof Error ? err.message : String(err);
    log(`   media overhead failed: ${results.mediaError}\n`);
  }
}
if (only.includes('hls')) {
  log('\n== hls overhead: the hls op against the same ffmpeg command on the local file\n');
  try {
    results.hls = await hlsOverhead({ tree: head.dir, ...plan.hls, log, running });
  } catch (err) {
    results.hlsError = err instanceof Error ? err.message : String(err);
    log(`   hls overhead failed: ${results.hlsError}\n`);
  }
}
save();
log(
  `\nwrote ${path.relative(path.dirname(BENCH), OUT)}/RESULTS${suffix}.md (with chart${suffix}.svg, results${suffix}.json) in ${results.seconds.toFixed(0)} s\n`,
);
process.exit(0);
