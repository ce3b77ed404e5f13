// bench/RESULTS.md from the numbers of one run (results.json): machine, versions, method, one table per
// measurement with clipyard / peer ratios, the targets met or missed, and where the time goes.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH } from './proc.mjs';
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
  const lines = [head(['system', 'updates after the drop', 'lost', 'duplicated', 'how it resumes'])];
  const how = {
    clipyard: 'WebSocket again with `?after=<last seq>`: replay from the event log, then live',
    BullMQ: 'WebSocket again: a snapshot of job.progress, then live QueueEvents (no replay)',
    Celery: `polling resumes (every ${results.config.pollMs} ms): only the newest state is visible`,
  };
  for (const s of results.systems) {
    const r = s.reconnect;
    if (!r) continue;
    lines.push(row([s.name, r.expected, r.lost, r.dup, how[s.name] ?? '']));
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
  const lines = [head(['system', 'tasks', 'process', 'peak RSS', 'CPU seconds (tree)'])];
  for (const s of results.systems) {
    const r = [...s.scaling].reverse().find((x) => x.complete) ?? s.scaling.at(-1);
    if (!r) continue;
    for (const [proc, rss] of Object.entries(r.perProcess)) {
      const label = proc.split(': ')[0];
      lines.push(row([s.name, r.count, proc, fmtMb(rss), r.cpuSeconds[label]?.toFixed(1) ?? '']));
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

function targets(results) {
  const cy = sys(results, 'clipyard');
  const bull = sys(results, 'BullMQ');
  const cel = sys(results, 'Celery');
  const out = [];
  const verdict = (ok) => (ok === null ? 'not measured' : ok ? '**met**' : '**missed**');
  for (const c of results.config.plan.create) {
    const a = cy?.create.find((r) => r.concurrency === c.concurrency)?.p99;
    const b = bull?.create.find((r) => r.concurrency === c.concurrency)?.p99;
    const ok = a && b ? a <= b : null;
    out.push([`create p99 <= BullMQ's, concurrency ${c.concurrency}`, `${fmtMs(a)} vs ${fmtMs(b)}`, verdict(ok)]);
  }
  for (const p of results.config.plan.progress.subs) {
    const a = cy?.progress.find((r) => r.subs === p)?.p99;
    const b = bull?.progress.find((r) => r.subs === p)?.p99;
    const c = cel?.progress.find((r) => r.subs === p)?.p99;
    const ok = a && b ? a <= b / 2 : null;
    out.push([`progress p99 <= half of BullMQ's, ${p} subscribers`, `${fmtMs(a)} vs ${fmtMs(b)}`, verdict(ok)]);
    const ok2 = a && c ? a <= c / 5 : null;
    out.push([`progress p99 far under Celery's (< 1/5), ${p} subscribers`, `${fmtMs(a)} vs ${fmtMs(c)}`, verdict(ok2)]);
  }
  if (cy) {
    const lost = cy.progress.reduce((s, r) => s + r.lost, 0) + (cy.reconnect?.lost ?? 0);
    const dup = cy.progress.reduce((s, r) => s + r.dup, 0) + (cy.reconnect?.dup ?? 0);
    out.push(['0 lost and 0 duplicated updates', `${lost} lost, ${dup} duplicated`, verdict(lost === 0 && dup === 0)]);
  }
  if (results.media) {
    const r = results.media.ratio;
    out.push(['media overhead <= 1.15x raw ffmpeg', `${r.toFixed(2)}x`, verdict(r <= 1.15)]);
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
  (the machine is shared with other engineers' test runs; see "Noise" below)
- clipyard at commit \`${results.commit.hash.slice(0, 12)}\` (${results.commit.subject.slice(0, 100)}), run from a copy of that commit
${versions}
${results.media ? `- ${results.media.ffmpeg}` : ''}

## How each figure was obtained

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
   every 200 ms from /proc; CPU seconds from /proc/<pid>/stat. A size has min(150 s, max(60 s, 30 ms x N)) to
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

## 6. Media overhead

${results.mediaError ? `**Failed during the run:** ${results.mediaError}\n\n` : ''}${results.media ? `${mediaTable(results.media)}\n\nProgress latency on the real transcode (runner line -> subscriber, stamped by a pass-through proxy between the object and the runner): p50 ${fmtMs(results.media.transcodeProgress.p50)}, p99 ${fmtMs(results.media.transcodeProgress.p99)} over ${results.media.transcodeProgress.n} updates.` : 'Not run.'}

## Targets

${targets(results)}

${notes}
`;
  writeFileSync(file, md);
}
