// The BullMQ peer under test: redis-server, the API + WebSocket process and the worker process
// (bench/peers/bullmq-server.mjs).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  BENCH,
  freePort,
  httpReady,
  REQUEST_TIMEOUT_MS,
  redisChanges,
  start,
  startRedis,
  stop,
  WORK,
  waitUntil,
} from '../lib/proc.mjs';
import { nowMs } from '../lib/stats.mjs';

/** `aof`: Redis with the append-only file and `appendfsync everysec` instead of no persistence. */
export async function startBullmq({ concurrency, aof = false }) {
  const redis = await startRedis(aof ? 'bullmq-redis-aof' : 'bullmq-redis', { aof });
  const port = await freePort();
  const peersDir = path.join(WORK, 'peers');
  const env = { ...process.env, PORT: String(port), REDIS_PORT: String(redis.port), PEERS_DIR: peersDir };
  const script = path.join(BENCH, 'peers/bullmq-server.mjs');
  const api = start('bullmq-api', process.execPath, [script], { env: { ...env, ROLE: 'api' } });
  const worker = start('bullmq-worker', process.execPath, [script], {
    env: { ...env, ROLE: 'worker', CONCURRENCY: String(concurrency) },
  });
  const workerReady = new Promise((resolve, reject) => {
    worker.stdout.on('data', (d) => d.toString().includes('worker ready') && resolve());
    worker.once('exit', (c) => reject(new Error(`bullmq worker exited ${c}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(() => httpReady(`${base}/api/stats`), 20_000, api, 'bullmq api');
  await workerReady;
  const version = JSON.parse(readFileSync(path.join(peersDir, 'node_modules/bullmq/package.json'), 'utf8')).version;
  return {
    name: aof ? 'BullMQ (AOF)' : 'BullMQ',
    version: `bullmq ${version} (Node ${process.version}), redis-server ${aof ? 'appendonly yes, appendfsync everysec' : 'persistence off'}`,
    roots: [
      { label: 'redis-server', pid: redis.proc.pid },
      { label: 'api + ws (node)', pid: api.pid },
      { label: 'worker (node)', pid: worker.pid },
    ],
    async create(job) {
      const res = await fetch(`${base}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(job),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const out = await res.json();
      if (res.status !== 202) throw new Error(`bullmq create answered ${res.status}`);
      return out.id;
    },
    /** `after`: the last Redis stream id seen (lastSeq() of an earlier subscription) to resume from. */
    subscribe(id, { after, onTick, onDone }) {
      let lastId = after || null;
      const query = lastId ? `?after=${encodeURIComponent(lastId)}` : '';
      const ws = new WebSocket(`ws://127.0.0.1:${port}/api/tasks/${id}/events${query}`);
      const opened = new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      ws.onmessage = (m) => {
        const recvAt = nowMs();
        const msg = JSON.parse(m.data);
        if (msg.id) lastId = msg.id;
        if (msg.type === 'progress') onTick?.(msg.data.tick, msg.data.at, recvAt);
        // The snapshot on (re)connect shows the newest value: count it as that update received.
        else if (msg.type === 'snapshot' && msg.progress?.tick) onTick?.(msg.progress.tick, msg.progress.at, recvAt);
        else if (msg.type === 'done') onDone?.(msg.state);
      };
      return { close: () => ws.close(), lastSeq: () => lastId, opened };
    },
    /** Keys Redis changed so far (the counterpart of rows written). */
    async meter() {
      return { writes: await redisChanges(redis.port) };
    },
    async counts() {
      const res = await fetch(`${base}/api/stats`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const c = await res.json();
      return { done: c.completed ?? 0, failed: c.failed ?? 0 };
    },
    async stop() {
      await Promise.all([stop(api), stop(worker)]);
      await stop(redis.proc);
    },
  };
}
