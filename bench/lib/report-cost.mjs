// The report's cost sections: per-task resources of every system (CPU, writes, object invocations,
// memory), clipyard's bill per million tasks from Cloudflare's published prices, the one-core pinned
// run and the local-engine comparison. Used by lib/report.mjs.
import { fmtMb, fmtMs, ratio } from './stats.mjs';

const row = (cells) => `| ${cells.join(' | ')} |`;
const head = (cells) => `${row(cells)}\n${row(cells.map(() => '---'))}`;

/**
 * Cloudflare Workers Paid prices (USD) beyond the monthly allowance, from developers.cloudflare.com
 * (Durable Objects pricing and its storage-API partial; Workers Standard prices as the Workflows
 * pricing page restates them), read on 2026-12-02.
 */
export const PRICES = {
  source:
    'developers.cloudflare.com/durable-objects/platform/pricing (and its SQLite storage table), Workers Standard prices as restated on developers.cloudflare.com/workflows/reference/pricing; read 2026-12-02',
  workerRequestPerM: 0.3,
  workerCpuPerMMs: 0.02,
  doRequestPerM: 0.15,
  doGbSecondPerM: 12.5,
  rowWrittenPerM: 1.0,
  rowReadPerM: 0.001,
  /** memory every active object is billed for */
  doGb: 0.125,
};

/** A scaling row that finished (a timed-out row's CPU per task counts tasks that never finished). */
const at = (s, count) => s?.scaling?.find((r) => r.count === count && r.complete) ?? null;
const fmt1 = (v) => (v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(1));

/** What the metered run counted, per task: object invocations by class, rows written and read. */
export function meteredPerTask(results) {
  const m = results.metered?.meter;
  if (!m?.tasks) return null;
  const n = m.tasks;
  const byClass = {};
  let invocations = 0;
  let workerRequests = 0;
  let polls = 0;
  for (const [key, count] of Object.entries(m.calls ?? {})) {
    const cls = key.split('.')[0];
    if (cls === 'Worker') {
      workerRequests += count;
      continue;
    }
    // the bench's own "are they done yet" polls of /api/health, not part of any task
    if (key === 'TenantObject.counts') {
      polls += count;
      continue;
    }
    byClass[key] = count / n;
    invocations += count;
  }
  const sql = Object.values(m.sql ?? {});
  // setAlarm and the KV API's put/delete write a row each (the storage pricing's footnotes)
  const kvRows = Object.values(m.storage ?? {}).reduce((a, b) => a + b, 0);
  return {
    tasks: n,
    byClass,
    invocations: invocations / n,
    workerRequests: (workerRequests - polls) / n,
    polls,
    rowsWritten: (sql.reduce((a, s) => a + s.rowsWritten, 0) + kvRows) / n,
    rowsRead: sql.reduce((a, s) => a + s.rowsRead, 0) / n,
    statements: sql.reduce((a, s) => a + s.statements, 0) / n,
    sqlByClass: Object.fromEntries(Object.entries(m.sql ?? {}).map(([k, s]) => [k, s.rowsWritten / n])),
  };
}

export function perTaskTable(results) {
  const mt = meteredPerTask(results);
  const lines = [
    head([
      'system',
      'CPU ms / task (100)',
      'CPU ms / task (1,000)',
      'CPU ms / task (10,000)',
      'writes / task',
      'object invocations / task',
      'peak RSS, 1,000 tasks',
      'peak RSS, 10,000 tasks',
    ]),
  ];
  for (const s of results.systems) {
    const r0 = at(s, 100);
    const r1 = at(s, 1_000);
    const r10 = at(s, 10_000);
    const isCy = s.name === 'clipyard';
    const writes = isCy ? mt?.rowsWritten : (r1 ?? r0 ?? s.scaling.at(-1))?.writesPerTask;
    lines.push(
      row([
        s.name,
        fmt1(r0?.cpuMsPerTask),
        fmt1(r1?.cpuMsPerTask),
        fmt1(r10?.cpuMsPerTask),
        isCy ? `${fmt1(writes)} SQLite rows` : `${fmt1(writes)} Redis keys`,
        isCy ? fmt1(mt?.invocations) : 'n/a',
        fmtMb(r1?.peakRss),
        fmtMb(r10?.peakRss),
      ]),
    );
  }
  return lines.join('\n');
}

/** Calls per task into each object class and method, from the metered run. */
export function callsTable(results) {
  const mt = meteredPerTask(results);
  if (!mt) return 'Not measured (the metered run did not complete).';
  const lines = [head(['object class . method', 'calls per task'])];
  for (const [k, v] of Object.entries(mt.byClass).sort((a, b) => b[1] - a[1])) lines.push(row([k, v.toFixed(2)]));
  lines.push(row(['**all object invocations**', `**${mt.invocations.toFixed(2)}**`]));
  lines.push(row(["Worker requests (the POST; the bench's health polls left out)", mt.workerRequests.toFixed(2)]));
  lines.push(row(["the bench's health polls (TenantObject.counts), left out above", `${mt.polls} in all`]));
  for (const [k, v] of Object.entries(mt.sqlByClass)) lines.push(row([`${k}: SQLite rows written`, v.toFixed(1)]));
  return lines.join('\n');
}

/**
 * clipyard's marginal bill for a million 10-update tasks (allowances left out): one Worker request
 * and its CPU, the measured object invocations, object duration (the task object is active while it
 * reads the job's event stream, plus the CPU of every call), and rows written and read.
 */
export function costTable(results) {
  const mt = meteredPerTask(results);
  const cy = results.systems.find((s) => s.name === 'clipyard');
  // the largest row that finished: a timed-out row's CPU includes tasks that never finished
  const r = [...(cy?.scaling ?? [])].reverse().find((x) => x.complete) ?? cy?.scaling.at(-1);
  if (!mt || !r) return 'Not computed (the metered run or the 1,000-task row is missing).';
  const job = results.config.plan.throughputJob;
  const jobSeconds = job.n / job.rate;
  const cpuMs = r.cpuMsPerTask;
  const M = 1e6;
  const items = [
    ['Worker requests', '1 per task (the POST)', PRICES.workerRequestPerM],
    [
      'Worker CPU',
      `at most ${cpuMs.toFixed(1)} ms per task (all of local workerd's CPU, objects included: an upper bound)`,
      (cpuMs * PRICES.workerCpuPerMMs) / 1,
    ],
    [
      'Durable Object requests',
      `${mt.invocations.toFixed(2)} per task (RPC calls, alarms, WebSocket messages)`,
      mt.invocations * PRICES.doRequestPerM,
    ],
    [
      'Durable Object duration',
      `${PRICES.doGb} GB x (${jobSeconds} s of job stream + ${(cpuMs / 1000).toFixed(3)} s of calls) per task`,
      (PRICES.doGb * (jobSeconds + cpuMs / 1000) * M * PRICES.doGbSecondPerM) / M,
    ],
    ['SQLite rows written', `${mt.rowsWritten.toFixed(1)} per task`, mt.rowsWritten * PRICES.rowWrittenPerM],
    ['SQLite rows read', `${mt.rowsRead.toFixed(1)} per task`, mt.rowsRead * PRICES.rowReadPerM],
  ];
  const total = items.reduce((a, [, , usd]) => a + usd, 0);
  const lines = [head(['item', 'per task (measured locally)', 'USD per million tasks', 'share'])];
  for (const [name, what, usd] of items) {
    lines.push(row([name, what, `$${usd.toFixed(2)}`, `${((usd / total) * 100).toFixed(0)} %`]));
  }
  lines.push(row(['**total**', '', `**$${total.toFixed(2)}**`, '100 %']));
  return `${lines.join('\n')}\n\nPrices: ${PRICES.source}. Workers requests $${PRICES.workerRequestPerM}/M, CPU $${PRICES.workerCpuPerMMs}/M ms; Durable Objects requests $${PRICES.doRequestPerM}/M, duration $${PRICES.doGbSecondPerM}/M GB-s (${PRICES.doGb * 1024} MB per active object); SQLite rows written $${PRICES.rowWrittenPerM}/M, read $${PRICES.rowReadPerM}/M. Monthly allowances (10 M Worker requests, 1 M object requests, 400,000 GB-s, 50 M rows written) are left out: this is the marginal price.`;
}

function createCell(s, c) {
  const r = s?.create?.find((x) => x.concurrency === c);
  return r ? `${fmtMs(r.p50)} / ${fmtMs(r.p99)}` : '—';
}

/** A table of reduced runs (pinned or per engine): create p50/p99 at 1 and 32, throughput, CPU, RSS. */
export function reducedTable(runs, label) {
  if (!runs?.length) return 'Not run.';
  const lines = [
    head([
      label,
      'create p50 / p99, c=1',
      'create p50 / p99, c=32',
      `tasks/s (${runs[0]?.scaling.at(-1)?.count?.toLocaleString('en') ?? '—'} tasks)`,
      'CPU ms / task',
      'peak RSS',
    ]),
  ];
  for (const s of runs) {
    const r = s.scaling.at(-1);
    lines.push(
      row([
        `${s.label ?? s.name}${s.error ? ` (failed: ${s.error})` : ''}`,
        createCell(s, 1),
        createCell(s, 32),
        r ? `${r.tasksPerSecond.toFixed(1)}${r.complete ? '' : ' (timed out)'}` : '—',
        fmt1(r?.cpuMsPerTask),
        fmtMb(r?.peakRss),
      ]),
    );
  }
  return lines.join('\n');
}

/** miniflare / wrangler ratios of the engine comparison. */
export function engineRatios(results) {
  const [w, m] = results.engines ?? [];
  if (!w || !m) return '';
  const rw = w.scaling.at(-1);
  const rm = m.scaling.at(-1);
  const p99 = (s, c) => s.create.find((x) => x.concurrency === c)?.p99;
  return `Miniflare / wrangler dev: CPU per task ${ratio(rm?.cpuMsPerTask, rw?.cpuMsPerTask)}, peak RSS ${ratio(rm?.peakRss, rw?.peakRss)}, throughput ${ratio(rm?.tasksPerSecond, rw?.tasksPerSecond)}, create p99 ${ratio(p99(m, 1), p99(w, 1))} (c=1) and ${ratio(p99(m, 32), p99(w, 32))} (c=32).`;
}
