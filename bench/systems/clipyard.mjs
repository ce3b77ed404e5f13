// clipyard under test: wrangler dev (Worker + Durable Objects + local R2, exactly as `npm start`
// runs it, via scripts/system.mjs) with either the bench's synthetic runner (control-plane
// scenarios) or the real media runner (media overhead).
import { createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BENCH, freePort, LOGS, REQUEST_TIMEOUT_MS, start, stop, WORK } from '../lib/proc.mjs';
import { nowMs } from '../lib/stats.mjs';

/**
 * @param {{ tree: string, concurrency: number, runner: 'synthetic' | 'real', allowHosts?: string }} o
 * `tree` is the snapshot of the repository to run (lib/snapshot.mjs). `metered` runs the bench's
 * metered entry (lib/metered-entry.js: the same Worker and objects, with counters) instead of the plain
 * one, for the rows-written and invocations columns; timing runs use the plain entry.
 */
export async function startClipyard(o) {
  const mod = await import(path.join(o.tree, 'scripts/system.mjs'));
  const { startRunner, startWorker, stopProcess } = mod;
  mkdirSync(LOGS, { recursive: true });
  const logFile = createWriteStream(path.join(LOGS, 'clipyard.log'), { flags: 'a' });
  const log = (s) => logFile.write(s);
  const runnerPort = await freePort();
  let runner;
  if (o.runner === 'synthetic') {
    runner = start('synthetic-runner', process.execPath, [path.join(BENCH, 'systems/synthetic-runner.mjs')], {
      env: { ...process.env, PORT: String(runnerPort) },
    });
    await new Promise((resolve, reject) => {
      runner.stdout.on('data', (d) => d.toString().includes('listening') && resolve());
      runner.once('exit', (c) => reject(new Error(`synthetic runner exited ${c}`)));
    });
  } else {
    runner = await startRunner({ port: runnerPort, allowHosts: o.allowHosts ?? '127.0.0.1', log });
  }
  let runnerUrl = `http://127.0.0.1:${runnerPort}`;
  let proxy = null;
  if (o.stampProxy) {
    proxy = await o.stampProxy(runnerUrl);
    runnerUrl = proxy.url;
  }
  const port = await freePort();
  const state = path.join(WORK, `state-${process.pid}-${port}`);
  const worker = await startWorker({
    port,
    runnerUrl,
    allowHosts: o.allowHosts ?? '127.0.0.1',
    // The bench creates thousands of tasks: lift the local tenant's daily task quota out of the way.
    vars: { MAX_CONCURRENT_TASKS: String(o.concurrency), MAX_TASKS_PER_DAY: '10000000' },
    persistTo: state,
    log,
    ...(o.metered ? { config: path.join(o.tree, 'wrangler.metered.toml') } : {}),
    // undefined: whatever `npm start` uses at that commit
    ...(o.engine ? { engine: o.engine } : {}),
  }).catch(async (err) => {
    // a Worker that did not start must not leave its runner behind
    await stop(runner);
    proxy?.server.close();
    throw err;
  });
  const engine = o.engine ?? mod.DEFAULT_ENGINE ?? 'wrangler';
  // how the local engine syncs its SQLite state (trees before scripts/sqlite-sync.mjs: at every commit)
  const sync =
    engine === 'miniflare'
      ? await import(path.join(o.tree, 'scripts/sqlite-sync.mjs')).then(
          (m) => m.sqliteSyncMode(),
          () => 'always',
        )
      : 'always';
  const base = `http://127.0.0.1:${port}`;
  const pkg = JSON.parse(readFileSync(path.join(o.tree, 'node_modules/wrangler/package.json'), 'utf8'));
  return {
    name: o.label ?? 'clipyard',
    base,
    runnerUrl,
    engine,
    version: `clipyard (${engine === 'miniflare' ? 'Miniflare API' : 'wrangler dev'}, wrangler ${pkg.version}, workerd local, SQLite sync ${sync})`,
    roots: [
      { label: engine === 'miniflare' ? 'miniflare + workerd' : 'wrangler dev + workerd', pid: worker.pid },
      { label: o.runner === 'synthetic' ? 'synthetic runner' : 'media runner', pid: runner.pid },
    ],

    /** POST a synthetic job; resolves to the task id once the 202 has arrived. */
    async create(job) {
      const body = {
        input: { url: `http://127.0.0.1:${runnerPort}/synthetic?n=${job.n}&rate=${job.rate}&delay=${job.delay ?? 0}` },
        steps: [{ op: 'probe' }],
      };
      return this.createRaw(body);
    },

    async createRaw(body) {
      const res = await fetch(`${base}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const out = await res.json();
      if (res.status !== 202) throw new Error(`clipyard create answered ${res.status}: ${JSON.stringify(out)}`);
      return out.id;
    },

    /**
     * Subscribe over WebSocket from `after`; calls onTick(i, emitAt, recvAt) per progress update and
     * onDone() at the terminal status. Returns { close(), lastSeq(), opened }.
     */
    subscribe(id, { after = 0, onTick, onDone }) {
      let lastSeq = after;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/api/tasks/${id}/events?after=${after}`);
      const opened = new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      ws.onmessage = (m) => {
        const recvAt = nowMs();
        const msg = JSON.parse(m.data);
        if (msg.type !== 'event') return;
        const e = msg.event;
        lastSeq = Math.max(lastSeq, e.seq);
        if (e.kind === 'progress') {
          const [, i, at] = e.message.split(' ');
          onTick?.(Number(i), Number(at), recvAt);
        } else if (e.kind === 'status' && ['succeeded', 'failed', 'canceled'].includes(e.status)) {
          onDone?.(e.status);
        }
      };
      return { close: () => ws.close(), lastSeq: () => lastSeq, opened };
    },

    /**
     * Billing counters of the metered entry: Durable Object invocations by class and method, SQLite rows
     * written. `reset` zeroes them first. Null when not metered.
     */
    async meter(reset = false) {
      if (!o.metered) return null;
      const res = await fetch(`${base}/__bench/metrics`, {
        method: reset ? 'POST' : 'GET',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const m = await res.json();
      const rowsWritten = Object.values(m.sql).reduce((sum, s) => sum + s.rowsWritten, 0);
      return { writes: rowsWritten, ...m };
    },

    /** Finished tasks so far (the tenant's index, read through /api/health). */
    async counts() {
      const res = await fetch(`${base}/api/health`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const h = await res.json();
      const q = h.queue ?? {};
      return { done: q.succeeded ?? 0, failed: (q.failed ?? 0) + (q.canceled ?? 0) };
    },

    async stop() {
      await stopProcess(worker);
      await stop(runner);
      proxy?.server.close();
      rmSync(state, { recursive: true, force: true });
    },
  };
}
