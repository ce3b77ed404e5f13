// The BullMQ peer: what a careful team would put in front of BullMQ for the same product.
//
//   role=api     HTTP + WebSocket: POST /api/tasks -> queue.add (202 {id}); GET /api/tasks/:id/events
//                (WebSocket) sends a snapshot of the job's progress, then QueueEvents' progress and
//                completed/failed events for that job, each with its Redis stream id;
//                `?after=<stream id>` resumes as BullMQ can: a QueueEvents of its own for that socket,
//                started at `lastEventId` = the last id the client saw, replays the events stream from
//                there and goes on live (no snapshot progress, so nothing arrives twice);
//                GET /api/stats -> queue.getJobCounts().
//   role=worker  a BullMQ Worker running the synthetic job: after `delay` ms, N job.updateProgress()
//                calls at a fixed rate, each stamped with its emit time, then return.
//
// Packages come from bench/.work/peers (installed by bench/run.mjs), so they stay out of the app's
// lockfile. Env: ROLE, PORT, REDIS_PORT, CONCURRENCY, PEERS_DIR.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.PEERS_DIR, 'package.json'));
const { Queue, Worker, QueueEvents, Job } = require('bullmq');
const { WebSocketServer } = require('ws');

const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT), maxRetriesPerRequest: null };
const QUEUE = 'bench';
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (process.env.ROLE === 'worker') {
  const worker = new Worker(
    QUEUE,
    async (job) => {
      const { n, rate, delay = 0 } = job.data;
      const interval = 1_000 / rate;
      const start = now() + delay;
      for (let i = 1; i <= n; i++) {
        await sleep(Math.max(0, start + i * interval - now()));
        await job.updateProgress({ tick: i, at: now() });
      }
      return { ticks: n };
    },
    { connection, concurrency: Number(process.env.CONCURRENCY ?? 100) },
  );
  worker.on('error', (err) => console.error('worker error', err));
  await worker.waitUntilReady();
  console.log('worker ready');
} else {
  const queue = new Queue(QUEUE, {
    connection,
    // Bounded Redis memory, as a team running this for real would configure it.
    defaultJobOptions: { removeOnComplete: { age: 3_600 }, removeOnFail: { age: 86_400 } },
  });
  const events = new QueueEvents(QUEUE, { connection });
  /** jobId -> Set<WebSocket> */
  const subscribers = new Map();
  const send = (jobId, message) => {
    const set = subscribers.get(jobId);
    if (!set) return;
    const text = JSON.stringify(message);
    for (const ws of set) ws.send(text);
  };
  const forward = (source, deliver) => {
    source.on('progress', ({ jobId, data }, id) => deliver(jobId, { type: 'progress', data, id }));
    source.on('completed', ({ jobId }, id) => deliver(jobId, { type: 'done', state: 'completed', id }));
    source.on('failed', ({ jobId, failedReason }, id) =>
      deliver(jobId, { type: 'done', state: 'failed', failedReason, id }),
    );
  };
  forward(events, send);
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);

  const json = (res, status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://api');
      if (req.method === 'POST' && url.pathname === '/api/tasks') {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const n = Number(body.n);
        const rate = Number(body.rate);
        const delay = Number(body.delay ?? 0);
        if (!(n >= 1 && n <= 100_000 && rate > 0 && rate <= 1_000 && delay >= 0)) {
          return json(res, 400, { error: 'bad job' });
        }
        const job = await queue.add('synthetic', { n, rate, delay });
        return json(res, 202, { id: job.id, status: 'queued' });
      }
      if (req.method === 'GET' && url.pathname === '/api/stats') {
        return json(res, 200, await queue.getJobCounts('completed', 'failed', 'active', 'waiting'));
      }
      const m = /^\/api\/tasks\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && m) {
        const job = await Job.fromId(queue, m[1]);
        if (!job) return json(res, 404, { error: 'not found' });
        return json(res, 200, { id: job.id, state: await job.getState(), progress: job.progress });
      }
      json(res, 404, { error: 'not found' });
    } catch (err) {
      json(res, 500, { error: String(err) });
    }
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const m = /^\/api\/tasks\/([^/?]+)\/events/.exec(req.url ?? '');
    if (!m) return socket.destroy();
    const after = new URL(req.url ?? '/', 'http://api').searchParams.get('after');
    wss.handleUpgrade(req, socket, head, async (ws) => {
      const jobId = m[1];
      if (after) {
        const replay = new QueueEvents(QUEUE, { connection, lastEventId: after });
        forward(replay, (id, message) => {
          if (id === jobId && ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
        });
        ws.on('close', () => void replay.close());
        return;
      }
      // Register first, then read the snapshot, so nothing that happens in between is missed live.
      if (!subscribers.has(jobId)) subscribers.set(jobId, new Set());
      subscribers.get(jobId).add(ws);
      ws.on('close', () => {
        const set = subscribers.get(jobId);
        set?.delete(ws);
        if (set?.size === 0) subscribers.delete(jobId);
      });
      const job = await Job.fromId(queue, jobId);
      if (!job) return ws.close(4404, 'no such job');
      const state = await job.getState();
      ws.send(JSON.stringify({ type: 'snapshot', state, progress: job.progress }));
      if (state === 'completed' || state === 'failed') ws.send(JSON.stringify({ type: 'done', state }));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('api ready'));
}
