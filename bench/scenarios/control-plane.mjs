// The scenarios every system runs with the synthetic job: create latency, progress latency with
// 1/10/100 subscribers, events lost across a reconnect, and throughput/scaling with memory.
// Each takes a started system (bench/systems/*.mjs) and returns plain numbers for the report.
import { cpuByProcess, cpuByRoot, sampleRss } from '../lib/procs.mjs';
import { nowMs, pool, sleep, summary } from '../lib/stats.mjs';

/** Wait until the system has finished `expected` tasks in all (its own counter), or time out. */
export async function drain(sys, expected, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await sys.counts().catch(() => null);
    if (c && c.done + c.failed >= expected) return { ...c, at: nowMs(), complete: true };
    if (Date.now() > deadline) return { ...(c ?? { done: 0, failed: 0 }), at: nowMs(), complete: false };
    await sleep(100);
  }
}

/** 1. POST -> 202 latency at a given client concurrency. */
export async function createLatency(sys, { concurrency, count, job }) {
  const lat = [];
  let errors = 0;
  let firstError = null;
  await pool(count, concurrency, async () => {
    const t = nowMs();
    try {
      await sys.create(job);
      sys.created++;
    } catch (err) {
      // A POST that failed or timed out counts at the time it took, and is reported as an error.
      errors++;
      firstError ??= err instanceof Error ? err.message : String(err);
    }
    lat.push(nowMs() - t);
  });
  return { ...summary(lat), errors, firstError };
}

/**
 * 2. Emit -> receipt latency of progress updates, `subs` subscribers on each of `tasks` tasks.
 * Only updates emitted after a subscriber's connection was open count (earlier ones arrive as a
 * replay, which is not live latency). Updates emitted after that which never arrived are "lost".
 *
 * The tasks' jobs start together, so each task's last update is emitted within a few ms of the
 * others' last updates and of their ends (their status events, the tenant's finish, their sockets
 * closing). `last` summarizes the last update's samples and `p99Others` the p99 of all the others,
 * so a report can tell that collision from the steady state (bench/NOTES.md, "Progress latency").
 */
export async function progressLatency(sys, { tasks, subs, job }) {
  const lat = [];
  /** the samples of each task's last update, and of all the others */
  const last = [];
  const others = [];
  let lost = 0;
  let dup = 0;
  let skippedByPolling = 0;
  let unfinished = 0;
  await Promise.all(
    Array.from({ length: tasks }, async () => {
      const id = await sys.create(job);
      sys.created++;
      await Promise.all(
        Array.from({ length: subs }, async () => {
          const seen = new Map();
          let openedAt = Number.POSITIVE_INFINITY;
          let firstLive = Number.POSITIVE_INFINITY;
          let finished;
          const done = new Promise((r) => {
            finished = r;
          });
          const record = (i, at, recv) => {
            if (at < openedAt) return;
            firstLive = Math.min(firstLive, i);
            seen.set(i, (seen.get(i) ?? 0) + 1);
            lat.push(recv - at);
            (i === job.n ? last : others).push(recv - at);
          };
          const sub = sys.subscribe(id, {
            rate: job.rate,
            onTick: record,
            onSkipped: (_i, at, recv) => {
              if (at < openedAt) return;
              skippedByPolling++;
              lat.push(recv - at);
            },
            onDone: () => finished(true),
          });
          await sub.opened;
          openedAt = nowMs();
          const ok = await Promise.race([done, sleep((job.n / job.rate) * 1_000 + 30_000).then(() => false)]);
          sub.close();
          if (!ok) unfinished++;
          for (const c of seen.values()) if (c > 1) dup += c - 1;
          if (Number.isFinite(firstLive) && !sys.pollMs) {
            for (let i = firstLive; i <= job.n; i++) if (!seen.has(i)) lost++;
          }
        }),
      );
    }),
  );
  return {
    ...summary(lat),
    last: summary(last),
    p99Others: summary(others).p99,
    lost,
    dup,
    skippedByPolling,
    unfinished,
  };
}

/**
 * 3. A subscriber drops its connection after update `dropAfter`, stays away `awayMs`, reconnects
 * (from its last seq where the system supports it) and reads to the end. Counts the updates after
 * the drop that never arrived, and those that arrived twice.
 */
export async function reconnectLoss(sys, { tasks, job, dropAfter, awayMs }) {
  const rows = await Promise.all(
    Array.from({ length: tasks }, async () => {
      const id = await sys.create(job);
      sys.created++;
      const counts = new Map();
      let finished;
      const done = new Promise((r) => {
        finished = r;
      });
      let dropped;
      const droppedP = new Promise((r) => {
        dropped = r;
      });
      const onTick = (i) => counts.set(i, (counts.get(i) ?? 0) + 1);
      // A poller (Celery) jumps over updates that a newer state replaced: superseded, not lost.
      const superseded = new Set();
      const onSkipped = (i) => superseded.add(i);
      const first = sys.subscribe(id, {
        rate: job.rate,
        onSkipped,
        onTick: (i, at, recv) => {
          onTick(i, at, recv);
          if (i >= dropAfter) dropped(i);
        },
        onDone: () => finished(true),
      });
      const lastBefore = await droppedP;
      first.close();
      await sleep(awayMs);
      const second = sys.subscribe(id, {
        rate: job.rate,
        after: first.lastSeq(),
        onTick,
        onSkipped,
        onDone: () => finished(true),
      });
      const ok = await Promise.race([done, sleep((job.n / job.rate) * 1_000 + 30_000).then(() => false)]);
      second.close();
      let lost = 0;
      let dup = 0;
      let skipped = 0;
      for (let i = lastBefore + 1; i <= job.n; i++) {
        if (counts.has(i)) continue;
        if (superseded.has(i)) skipped++;
        else lost++;
      }
      for (const c of counts.values()) if (c > 1) dup += c - 1;
      return { lost, dup, superseded: skipped, expected: job.n - lastBefore, ok };
    }),
  );
  return {
    tasks,
    expected: rows.reduce((s, r) => s + r.expected, 0),
    lost: rows.reduce((s, r) => s + r.lost, 0),
    dup: rows.reduce((s, r) => s + r.dup, 0),
    superseded: rows.reduce((s, r) => s + r.superseded, 0),
    unfinished: rows.filter((r) => !r.ok).length,
  };
}

/**
 * 4/5. `count` tasks of the job, created by a client with 32 requests in flight; time from the first
 * POST until the system reports all of them finished; peak RSS of every process meanwhile.
 */
export async function throughput(sys, { count, job, timeoutMs }) {
  const before = sys.created;
  const rss = sampleRss(sys.roots);
  const cpu0 = cpuByRoot(sys.roots);
  const proc0 = cpuByProcess(sys.roots);
  const writes0 = (await sys.meter?.())?.writes ?? null;
  const t0 = nowMs();
  let createErrors = 0;
  let skipped = 0;
  const deadline = t0 + timeoutMs;
  await pool(count, 32, async () => {
    // A system too slow to even accept the tasks in time is not sent the rest.
    if (nowMs() > deadline) {
      skipped++;
      return;
    }
    try {
      await sys.create(job);
    } catch {
      createErrors++;
    }
  });
  const createdIn = nowMs() - t0;
  sys.created += count - createErrors - skipped;
  const end = await drain(sys, sys.created, Math.max(10_000, deadline - nowMs()));
  const memory = rss.stop();
  const cpu1 = cpuByRoot(sys.roots);
  const proc1 = cpuByProcess(sys.roots);
  const writes1 = writes0 === null ? null : ((await sys.meter?.())?.writes ?? null);
  const seconds = (end.at - t0) / 1_000;
  const finished = end.done + end.failed - before;
  const cpuSeconds = Object.fromEntries(Object.entries(cpu1).map(([k, v]) => [k, v - (cpu0[k] ?? 0)]));
  const cpuTotal = Object.values(cpuSeconds).reduce((a, b) => a + b, 0);
  return {
    count,
    seconds,
    createSeconds: createdIn / 1_000,
    tasksPerSecond: finished / seconds,
    complete: end.complete && skipped === 0,
    notCreated: skipped,
    finished,
    createErrors,
    peakRss: memory.peakTotal,
    perProcess: memory.perProcess,
    cpuSeconds,
    cpuByProcess: Object.fromEntries(Object.entries(proc1).map(([k, v]) => [k, v - (proc0[k] ?? 0)])),
    /** CPU of every process of the system (the bench's own runner stand-in excluded) per finished task. */
    cpuMsPerTask: ((cpuTotal - (cpuSeconds['synthetic runner'] ?? 0)) * 1_000) / Math.max(1, finished),
    /** Redis keys changed per task (peers); null where the system has no such counter in this run. */
    writesPerTask: writes1 === null ? null : (writes1 - writes0) / Math.max(1, finished),
  };
}
