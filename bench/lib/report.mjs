// bench/RESULTS.md from the numbers of one run (results.json): machine, versions, method, one table per
// measurement with clipyard / peer ratios, the targets met or missed, and where the time goes.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH } from './proc.mjs';
import { callsTable, costTable, engineRatios, perTaskTable, reducedTable } from './report-cost.mjs';
import { fmtMb, fmtMs, ratio } from './stats.mjs';

const row = (cells) => `| ${cells.join(' | ')} |`;
const head = (cells) => `${row(cells)}\n${row(cells.map(() => '---'))}`;

function sys(results, name) {
  return results.systems.find((s) => s.name === name) ?? null;
}

function createTable(results) {
  const names = results.systems.map((s) => s.name);
  const peers = names.filter((n) => n !== 'clipyard');
  const lines = [
    head([
      'concurrency',
      ...names.flatMap((n) => [`${n} p50`, `${n} p99`]),
      ...peers.map((p) => `clipyard / ${p} (p50, p99)`),
    ]),
  ];
  for (const c of results.config.plan.create) {
    const get = (n) => sys(results, n)?.create.find((r) => r.concurrency === c.concurrency);
    const cy = get('clipyard');
    lines.push(
      row([
        `${c.concurrency} (${c.count} POSTs${names.some((n) => get(n)?.errors) ? `; failed or timed out: ${names.map((n) => get(n)?.errors ?? 0).join(' / ')}` : ''})`,
        ...names.flatMap((n) => [fmtMs(get(n)?.p50), fmtMs(get(n)?.p99)]),
        ...peers.map((p) => `${ratio(cy?.p50, get(p)?.p50)}, ${ratio(cy?.p99, get(p)?.p99)}`),
      ]),
    );
  }
  return lines.join('\n');
}

function progressTable(results) {
  const names = results.systems.map((s) => s.name);
  const peers = names.filter((n) => n !== 'clipyard');
  const lines = [
    head([
      'subscribers per task',
      ...names.flatMap((n) => [`${n} p50`, `${n} p99`]),
      ...peers.map((p) => `clipyard / ${p} (p50, p99)`),
      'samples (per system)',
      'lost after connect (per system)',
    ]),
  ];
  for (const subs of results.config.plan.progress.subs) {
    const get = (n) => sys(results, n)?.progress.find((r) => r.subs === subs);
    const cy = get('clipyard');
    lines.push(
      row([
        `${subs} (${results.config.plan.progress.tasks} tasks)`,
        ...names.flatMap((n) => [fmtMs(get(n)?.p50), fmtMs(get(n)?.p99)]),
        ...peers.map((p) => `${ratio(cy?.p50, get(p)?.p50)}, ${ratio(cy?.p99, get(p)?.p99)}`),
        names.map((n) => get(n)?.n ?? '—').join(' / '),
        names
          .map((n) => {
            const r = get(n);
            if (!r) return '—';
            return results.config.pollMs && n === 'Celery' ? `${r.skippedByPolling} never seen (polling)` : r.lost;
          })
          .join(' / '),
      ]),
    );
  }
  return lines.join('\n');
}

function reconnectTable(results) {
  const lines = [
    head(['system', 'updates after the drop', 'lost', 'superseded (polling)', 'duplicated', 'how it resumes']),
  ];
  const how = {
    clipyard: 'WebSocket again with `?after=<last seq>`: replay from the event log, then live',
    BullMQ:
      'WebSocket again with `?after=<last stream id>`: a QueueEvents started at `lastEventId` replays the events stream, then live',
    Celery: `polling resumes (every ${results.config.pollMs} ms): only the newest state is visible; what it jumped over was superseded`,
  };
  for (const s of results.systems) {
    const r = s.reconnect;
    if (!r) continue;
    lines.push(row([s.name, r.expected, r.lost, r.superseded ?? 0, r.dup, how[s.name] ?? '']));
  }
  return lines.join('\n');
}

function scalingTable(results) {
  const names = results.systems.map((s) => s.name);
  const lines = [
    head([
      'tasks',
      ...names.flatMap((n) => [`${n} time`, `${n} tasks/s`, `${n} peak RSS`]),
      ...names.filter((n) => n !== 'clipyard').map((p) => `clipyard / ${p} (tasks/s, RSS)`),
    ]),
  ];
  for (const count of results.config.plan.scaling) {
    const get = (n) => sys(results, n)?.scaling.find((r) => r.count === count);
    const cy = get('clipyard');
    lines.push(
      row([
        count,
        ...names.flatMap((n) => {
          const r = get(n);
          if (!r) return ['—', '—', '—'];
          if (r.note) return [r.note, '—', fmtMb(r.peakRss)];
          const t = `${r.seconds.toFixed(1)} s${r.complete ? '' : ` (timed out, ${r.finished} done)`}`;
          return [t, r.tasksPerSecond.toFixed(1), fmtMb(r.peakRss)];
        }),
        ...names
          .filter((n) => n !== 'clipyard')
          .map((p) =>
            cy?.note
              ? '—'
              : `${ratio(cy?.tasksPerSecond, get(p)?.tasksPerSecond)}, ${ratio(cy?.peakRss, get(p)?.peakRss)}`,
          ),
      ]),
    );
  }
  return lines.join('\n');
}

function processTable(results) {
  const lines = [head(['system', 'tasks', 'process', 'peak RSS', 'CPU seconds'])];
  for (const s of results.systems) {
    const r = [...s.scaling].reverse().find((x) => x.complete) ?? s.scaling.at(-1);
    if (!r) continue;
    for (const [proc, rss] of Object.entries(r.perProcess)) {
      const label = proc.split(': ')[0];
      // runs before per-process CPU was recorded show the whole tree's CPU on each of its processes;
      // a process seen only in the RSS samples (it ended before the CPU reading) has no figure of
      // its own: its CPU is in its parent's (procs.mjs)
      const cpu = r.cpuByProcess ? r.cpuByProcess[proc] : r.cpuSeconds[label];
      lines.push(row([s.name, r.count, proc, fmtMb(rss), cpu?.toFixed(1) ?? 'in its parent']));
    }
  }
  return lines.join('\n');
}

function mediaTable(m) {
  const lines = [head(['op', 'raw ffmpeg', 'clipyard, POST to downloaded', 'clipyard / raw'])];
  for (const r of m.rows) lines.push(row([r.op, fmtMs(r.rawMs), fmtMs(r.clipyardMs), ratio(r.clipyardMs, r.rawMs)]));
  lines.push(
    row(['**all three**', fmtMs(m.rawTotal), fmtMs(m.clipyardTotal), `**${ratio(m.clipyardTotal, m.rawTotal)}**`]),
  );
  return lines.join('\n');
}

/** Issue 14: the hls op (one clipyard task, POST to playlists and a segment fetched) against its ffmpeg command. */
function hlsSection(results) {
  if (results.hlsError) return `**Failed during the run:** ${results.hlsError}`;
  const h = results.hls;
  if (!h) return 'Not run.';
  const runs = h.raw.length;
  const lines = [
    head(['', 'raw ffmpeg', 'clipyard', 'clipyard / raw', 'target (issue 14)', 'verdict']),
    row([
      'wall time',
      fmtMs(h.rawMs),
      fmtMs(h.clipyardMs),
      `**${ratio(h.clipyardMs, h.rawMs)}**`,
      '<= 1.1x',
      h.ratio <= 1.1 ? '**met**' : '**missed**',
    ]),
  ];
  const around =
    h.overheadMs === null
      ? ''
      : ` Of clipyard's time, ${fmtMs(h.overheadMs)} is around the encode (download, probe, output check, master playlist, R2), which against the fastest raw run makes ${h.overheadRatio.toFixed(2)}x.`;
  return `${lines.join('\n')}

${h.clip}; step \`${JSON.stringify(h.step)}\`; best of ${runs} run${runs === 1 ? '' : 's'} each, load average ${h.loadAverage.join(' ')} after it.${around}`;
}

/** The targets of issue 11, each against the peer it names (BullMQ with Redis fsync everysec where it says so). */
function targets(results) {
  const cy = sys(results, 'clipyard');
  const bull = sys(results, 'BullMQ');
  const bullAof = sys(results, 'BullMQ (AOF)') ?? bull;
  const out = [];
  const verdict = (ok) => (ok === null ? 'not measured' : ok ? '**met**' : '**missed**');
  const createP99 = (s, c) => s?.create.find((r) => r.concurrency === c)?.p99;
  const check = (label, a, b, factor, fmt = fmtMs) => {
    const ok = a && b ? a <= b * factor : null;
    out.push([label, `${fmt(a)} vs ${fmt(b)} (${ratio(a, b)})`, verdict(ok)]);
  };
  check('create p99 at concurrency 32 <= BullMQ (AOF everysec)', createP99(cy, 32), createP99(bullAof, 32), 1);
  check('create p99 at concurrency 1 <= 2x BullMQ (AOF everysec)', createP99(cy, 1), createP99(bullAof, 1), 2);
  for (const p of results.config.plan.progress.subs) {
    const a = cy?.progress.find((r) => r.subs === p)?.p99;
    const b = bull?.progress.find((r) => r.subs === p)?.p99;
    check(`progress p99, ${p} subscribers, <= ${p >= 100 ? '' : '2x '}BullMQ`, a, b, p >= 100 ? 1 : 2);
  }
  const tps = (s, n) => s?.scaling.find((r) => r.count === n)?.tasksPerSecond;
  const num = (v) => (v === null || v === undefined ? '—' : v.toFixed(1));
  check('1,000-task throughput >= 0.9x BullMQ', tps(bull, 1_000), tps(cy, 1_000), 1 / 0.9, num);
  out[out.length - 1][1] =
    `${num(tps(cy, 1_000))} vs ${num(tps(bull, 1_000))} tasks/s (${ratio(tps(cy, 1_000), tps(bull, 1_000))})`;
  for (const n of [5_000, 10_000]) {
    const r = cy?.scaling.find((x) => x.count === n);
    const timedOut = cy?.scaling.find((x) => !x.complete && x.count < n);
    out.push([
      `${n.toLocaleString('en')} tasks finish`,
      r
        ? `${r.finished} of ${n} in ${r.seconds.toFixed(0)} s`
        : timedOut
          ? `not run: the ${timedOut.count.toLocaleString('en')}-task row timed out`
          : 'not run',
      verdict(r ? r.complete : timedOut ? false : null),
    ]);
  }
  // memory and CPU at the largest size clipyard finished, against the peer at that same size
  const done = [...(cy?.scaling ?? [])].reverse().find((r) => r.complete);
  const same = (s) => s?.scaling.find((r) => r.count === done?.count);
  const n = done ? `${done.count.toLocaleString('en')} tasks` : 'no finished size';
  check(`peak RSS <= 2.5x BullMQ (${n})`, done?.peakRss, same(bull)?.peakRss, 2.5, fmtMb);
  check(
    `CPU per task <= 3x BullMQ (Node + Redis) (${n})`,
    done?.cpuMsPerTask,
    same(bull)?.cpuMsPerTask,
    3,
    (v) => `${num(v)} ms`,
  );
  if (cy) {
    const lost = cy.progress.reduce((s, r) => s + r.lost, 0) + (cy.reconnect?.lost ?? 0);
    const dup = cy.progress.reduce((s, r) => s + r.dup, 0) + (cy.reconnect?.dup ?? 0);
    out.push(['0 lost and 0 duplicated updates', `${lost} lost, ${dup} duplicated`, verdict(lost === 0 && dup === 0)]);
  }
  if (results.media) {
    const r = results.media.ratio;
    out.push(['media overhead <= 1.15x raw ffmpeg (issue 5)', `${r.toFixed(2)}x`, verdict(r <= 1.15)]);
  }
  if (results.hls) {
    const r = results.hls.ratio;
    out.push(['hls op <= 1.1x raw ffmpeg (issue 14)', `${r.toFixed(2)}x`, verdict(r <= 1.1)]);
  }
  return [head(['target', 'measured (clipyard vs peer)', 'verdict']), ...out.map(row)].join('\n');
}

export function writeReport(results, file, chartName) {
  const notesFile = path.join(BENCH, 'NOTES.md');
  let notes = '';
  try {
    notes = readFileSync(notesFile, 'utf8');
  } catch {
    /* none yet */
  }
  const versions = results.systems
    .map(
      (s) =>
        `- ${s.name}: ${s.version}${s.error ? ` — **failed during the run: ${s.error}** (its tables stop there)` : ''}`,
    )
    .join('\n');
  const plan = results.config.plan;
  const md = `# clipyard benchmark results${results.quick ? ' (quick smoke run: small N, not for comparison)' : ''}

Generated by \`npm run bench${results.quick ? ' -- --quick' : ''}\` on ${results.date} in ${results.seconds.toFixed(0)} s.
Regenerate with the same command; the raw numbers are in \`${path.basename(file).replace('RESULTS', 'results').replace('.md', '.json')}\`.

![chart](${chartName})

## Machine and versions

- ${results.machine.cpus}, ${results.machine.memory} RAM, ${results.machine.os}; bench client on Node ${results.machine.node}
- Load average before / after the run: ${results.machine.loadBefore} / ${results.machine.loadAfter}
  (see "Noise" below for what else ran on the machine)
- clipyard at commit \`${results.commit.hash.slice(0, 12)}\` (${results.commit.subject.slice(0, 100)}), run from a copy of that commit
${versions}
${results.media ? `- ${results.media.ffmpeg}` : ''}

## How each figure was obtained

Redis runs with persistence off for \`BullMQ\` and \`Celery\`, and with \`appendonly yes, appendfsync everysec\`
(their common production setting) for \`BullMQ (AOF)\` and \`Celery (AOF)\`, which run create latency and
throughput up to 1,000 tasks; clipyard commits status, step and output events to SQLite before it
answers or sends them (progress events since lean's change: sent at once, written in batches every 250 ms).

Every system runs alone on the machine (started, measured, stopped, then the next), on loopback, each
with **${results.config.concurrency} concurrent workers** (clipyard: \`MAX_CONCURRENT_TASKS=${results.config.concurrency}\`
for the one local tenant; BullMQ: \`Worker\` concurrency; Celery: \`-P threads -c ${results.config.concurrency}\`).
Every system runs the same **synthetic job**: optional delay, then N progress updates at ${results.config.rate}/s,
each stamped with its emit time (wall clock, same machine), then done. In clipyard it is run by
\`bench/systems/synthetic-runner.mjs\`, a stand-in that speaks the runner protocol at \`RUNNER_URL\`, so the
Worker, the task's Durable Object, the event log and the WebSockets are the real ones (see README.md for
the proposed runner-side synthetic op). The client is one Node process using Node's WebSocket and fetch.

- **1. Create latency**: POST to 202 at client concurrency 1 (${plan.create[0].count} POSTs) and 32
   (${plan.create[1].count} POSTs), a 1-update job each, after 10 warm-up POSTs.
- **2. Progress latency**: ${plan.progress.tasks} tasks at once, each with 1, 10 or 100 subscribers, a job of
   ${plan.progress.job.n} updates at ${plan.progress.job.rate}/s starting ${plan.progress.job.delay} ms after it
   runs (so the subscribers are connected first). Latency = client receipt time - emit time, over
   every update emitted after that subscriber's connection opened. Celery's page polls
   \`GET /api/tasks/:id\` every ${results.config.pollMs} ms; an update that a poll jumped over counts as seen
   (superseded) at that poll, with its scheduled emit time.
- **3. Events lost on reconnect**: ${plan.reconnect.tasks} tasks, one subscriber each; it drops its connection
   after update ${plan.reconnect.dropAfter}, stays away ${plan.reconnect.awayMs} ms, reconnects and reads to the
   end. Updates after the drop that never arrived are lost; ones that arrived twice are duplicated.
- **4. Throughput / 5. scaling**: N tasks of a ${plan.throughputJob.n}-update job (${plan.throughputJob.n / plan.throughputJob.rate} s each),
   created by 32 client connections; time from the first POST until the system's own counter says all
   finished (clipyard: the tenant index in \`/api/health\`; BullMQ: \`getJobCounts\`; Celery: a Redis
   counter bumped by \`task_postrun\`), polled every 100 ms. RSS of every process of the system sampled
   every 200 ms from /proc; CPU seconds from /proc/<pid>/stat. A size has min(720 s, max(90 s, 60 ms x N)) to
  finish (POSTs included); one that does not is reported as timed out and the larger sizes are skipped.
- **6. Media overhead**: ${results.media ? results.media.clip : 'not run'}; audio (mp3), transcode (480p mp4)
   and thumbnail, each one clipyard task (input URL on loopback, real runner and ffmpeg) timed from POST
   until the output is downloaded through its signed link, against the same ffmpeg commands (built by
   the runner's own argument builders) on the local file; best of ${plan.media.reps} runs each, interleaved.

## 1. Create latency (POST -> 202)

${createTable(results)}

## 2. Progress latency (emit -> receipt, ${results.config.rate} updates/s)

${progressTable(results)}

## 3. Events lost across a reconnect

${reconnectTable(results)}

## 4-5. Throughput and scaling (synthetic job, ${results.config.concurrency} workers)

${scalingTable(results)}

Peak RSS and CPU of every process at the largest completed size:

${processTable(results)}

## Per-task resources

CPU per task is the CPU of every process of the system (bench client and clipyard's runner stand-in
excluded) over the scaling row, divided by the tasks finished; a process's ended children count in
it (/proc's cutime and cstime: the local engine's \`sync -f\` once a second, whose kernel time
writing the object files back is the price of its syncing). Writes: SQLite rows written for clipyard
(counted by the metered entry, below), keys Redis changed (INFO \`rdb_changes_since_last_save\`) for
the peers.

${perTaskTable(results)}

### Calls per task into each Durable Object class (metered run, ${results.metered?.meter?.tasks ?? '—'} tasks of the ${plan.throughputJob.n}-update job)

Counted by \`bench/lib/metered-entry.js\`: the same Worker and objects, with every stub call, alarm,
WebSocket message and \`sql.exec\` cursor (\`rowsWritten\`) counted from outside the product code, in a
run of its own so no timing above includes it.

${callsTable(results)}

### Cost per million tasks on Cloudflare (10-update task)

${costTable(results)}

## One core per system (taskset)

Each system's processes pinned to CPU 1 with \`taskset -a -c -p 1\` (the bench client on CPU 0), so
workerd's one thread is compared with one core for Node + Redis and for Python + Redis. Peers with
Redis \`appendfsync everysec\`.

${reducedTable(results.pinned, 'system (one core)')}

## Local engine: wrangler dev against Miniflare's API

The same commit and the same bundle, started by \`scripts/system.mjs\` on each engine.

${reducedTable(results.engines, 'engine')}

${engineRatios(results)}

## 6. Media overhead

${results.mediaError ? `**Failed during the run:** ${results.mediaError}\n\n` : ''}${results.media ? `${mediaTable(results.media)}\n\nProgress latency on the real transcode (runner line -> subscriber, stamped by a pass-through proxy between the object and the runner): p50 ${fmtMs(results.media.transcodeProgress.p50)}, p99 ${fmtMs(results.media.transcodeProgress.p99)} over ${results.media.transcodeProgress.n} updates.` : 'Not run.'}

## 7. HLS overhead (issue 14)

${hlsSection(results)}

## Targets

${targets(results)}

${notes}
`;
  writeFileSync(file, md);
}
