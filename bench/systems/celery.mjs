// The Celery peer under test: redis-server, uvicorn serving the FastAPI app and a Celery worker
// (bench/peers/celery_app.py), all from Debian's packages. Clients read progress by polling.
import { execFileSync } from 'node:child_process';
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
  waitUntil,
} from '../lib/proc.mjs';
import { nowMs } from '../lib/stats.mjs';

/** Debian's interpreter: the Debian python3-* packages live there, not in a pyenv or venv. */
export const PYTHON = '/usr/bin/python3';

/** `aof`: Redis with the append-only file and `appendfsync everysec` instead of no persistence. */
export async function startCelery({ concurrency, pollMs, aof = false }) {
  const redis = await startRedis(aof ? 'celery-redis-aof' : 'celery-redis', { aof });
  const port = await freePort();
  const env = { ...process.env, REDIS_URL: `${redis.url}/0`, PYTHONPATH: path.join(BENCH, 'peers') };
  const cwd = path.join(BENCH, 'peers');
  const api = start(
    'celery-api',
    PYTHON,
    ['-m', 'uvicorn', 'celery_app:api', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning'],
    { env, cwd },
  );
  // Threads, not prefork: the synthetic job sleeps, and 100 prefork children would not fit 2 cores.
  const worker = start(
    'celery-worker',
    PYTHON,
    ['-m', 'celery', '-A', 'celery_app', 'worker', '-P', 'threads', '-c', String(concurrency), '-l', 'warning'],
    { env, cwd },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(() => httpReady(`${base}/api/stats`), 30_000, api, 'celery api');
  await waitUntil(
    async () => {
      const out = execFileSync(PYTHON, ['-m', 'celery', '-A', 'celery_app', 'inspect', 'ping', '-t', '1'], {
        env,
        cwd,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).toString();
      return out.includes('pong');
    },
    60_000,
    worker,
    'celery worker',
  );
  const versions = execFileSync(
    PYTHON,
    [
      '-c',
      'import celery, fastapi, uvicorn, redis; print(celery.__version__, fastapi.__version__, uvicorn.__version__)',
    ],
    { env },
  )
    .toString()
    .trim()
    .split(' ');
  return {
    name: aof ? 'Celery (AOF)' : 'Celery',
    pollMs,
    version: `celery ${versions[0]}, fastapi ${versions[1]}, uvicorn ${versions[2]} (Debian python3), redis-server ${aof ? 'appendonly yes, appendfsync everysec' : 'persistence off'}`,
    roots: [
      { label: 'redis-server', pid: redis.proc.pid },
      { label: 'uvicorn + fastapi', pid: api.pid },
      { label: 'celery worker', pid: worker.pid },
    ],
    async create(job) {
      const res = await fetch(`${base}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(job),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const out = await res.json();
      if (res.status !== 202) throw new Error(`celery create answered ${res.status}`);
      return out.id;
    },
    /**
     * Poll GET /api/tasks/:id every pollMs (first poll at a random phase). A newly seen tick is
     * received then; ticks it jumped over are passed to onSkipped with their scheduled emit time,
     * because the page's view reflected them (superseded) only from that moment.
     */
    subscribe(id, { after = 0, onTick, onDone, onSkipped, rate = 10 }) {
      let closed = false;
      // the newest tick a previous subscription saw: a resumed poller reports only newer ones
      let last = after;
      const loop = async () => {
        await new Promise((r) => setTimeout(r, Math.random() * pollMs));
        while (!closed) {
          const started = Date.now();
          try {
            const res = await fetch(`${base}/api/tasks/${id}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
            const recvAt = nowMs();
            const body = await res.json();
            if (closed) return;
            if (body.state === 'PROGRESS' && body.info && body.info.tick > last) {
              for (let j = last + 1; j < body.info.tick; j++) {
                onSkipped?.(j, body.info.at - ((body.info.tick - j) * 1_000) / rate, recvAt);
              }
              last = body.info.tick;
              onTick?.(body.info.tick, body.info.at, recvAt);
            } else if (body.state === 'SUCCESS' || body.state === 'FAILURE') {
              // the final state (its result carries the last tick) supersedes the updates not yet seen
              const end = body.info?.tick ?? last;
              for (let j = last + 1; j <= end; j++) onSkipped?.(j, body.info.at - ((end - j) * 1_000) / rate, recvAt);
              last = Math.max(last, end);
              closed = true;
              onDone?.(body.state);
              return;
            }
          } catch {
            /* keep polling */
          }
          await new Promise((r) => setTimeout(r, Math.max(0, pollMs - (Date.now() - started))));
        }
      };
      void loop();
      return {
        close: () => {
          closed = true;
        },
        lastSeq: () => last,
        opened: Promise.resolve(),
      };
    },
    /** Keys Redis changed so far (the counterpart of rows written). */
    async meter() {
      return { writes: await redisChanges(redis.port) };
    },
    async counts() {
      const res = await fetch(`${base}/api/stats`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      return res.json();
    },
    async stop() {
      await Promise.all([stop(api), stop(worker)]);
      await stop(redis.proc);
    },
  };
}
