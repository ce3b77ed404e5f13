// A stand-in media runner that speaks clipyard's runner protocol (src/protocol/runner.ts) and runs the
// benchmark's synthetic job instead of ffmpeg: N progress updates at a fixed rate, then done.
//
// The job's shape comes from its input URL (`.../synthetic?n=50&rate=10&delay=0`, delay in ms before
// the first update), because the public API has
// no synthetic op; any real op (the bench uses `probe`) is accepted and treated as the synthetic job.
// Each progress line carries its emit time in `message` ("tick <i> <epoch ms>") so the client that
// receives the event can measure emit -> receipt. Used only by bench/systems/clipyard.mjs; it replaces
// containers/ffmpeg for the control-plane scenarios, never for the media-overhead one.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 0);
const HEARTBEAT_MS = 5_000;
/** jobId -> { lines: string[], done: boolean, waiters: Set<fn> } */
const jobs = new Map();

const now = () => performance.timeOrigin + performance.now();

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function push(job, event) {
  job.lines.push(`${JSON.stringify(event)}\n`);
  for (const wake of job.waiters) wake();
}

function runJob(job, n, rateHz, delayMs) {
  const interval = 1_000 / rateHz;
  const start = now() + delayMs;
  let i = 0;
  const tick = () => {
    if (job.canceled) return;
    i++;
    const at = now();
    push(job, {
      seq: i,
      type: 'progress',
      stage: 'probing',
      progress: (i / n) * 100,
      message: `tick ${i} ${at.toFixed(3)}`,
      // emit time on the runner's clock, as the real runner stamps it (the object rate-limits by it)
      at: Date.now(),
    });
    if (i >= n) {
      job.done = true;
      push(job, { seq: n + 1, type: 'done' });
      return;
    }
    // Scheduled from the start time, so the rate does not drift with timer lateness.
    setTimeout(tick, Math.max(0, start + (i + 1) * interval - now()));
  };
  setTimeout(tick, delayMs + interval);
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function streamEvents(req, res, job, after) {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  let sent = 0;
  // Lines are numbered by position: line k holds seq k+1.
  sent = Math.min(after, job.lines.length);
  const flush = () => {
    if (sent < job.lines.length) {
      res.write(job.lines.slice(sent).join(''));
      sent = job.lines.length;
    }
    if (job.done && sent >= job.lines.length) finish();
  };
  const beat = setInterval(() => res.write(`${JSON.stringify({ type: 'heartbeat', at: Date.now() })}\n`), HEARTBEAT_MS);
  const finish = () => {
    clearInterval(beat);
    job.waiters.delete(flush);
    res.end();
  };
  job.waiters.add(flush);
  req.on('close', () => {
    clearInterval(beat);
    job.waiters.delete(flush);
  });
  res.write(`${JSON.stringify({ type: 'heartbeat', at: Date.now() })}\n`);
  flush();
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://runner');
  if (req.method === 'GET' && url.pathname === '/health') {
    return json(res, 200, {
      ok: true,
      version: 'bench-synthetic',
      ffmpeg: null,
      ffprobe: null,
      ytDlp: null,
      activeJobs: [...jobs.values()].filter((j) => !j.done).length,
      capacity: 100_000,
    });
  }
  if (req.method === 'POST' && url.pathname === '/jobs') {
    const spec = JSON.parse(await readBody(req));
    const src = new URL(spec.input?.url ?? 'http://x/synthetic');
    const n = Number(src.searchParams.get('n') ?? 10);
    const rate = Number(src.searchParams.get('rate') ?? 10);
    const delay = Number(src.searchParams.get('delay') ?? 0);
    if (!jobs.has(spec.jobId)) {
      const job = { lines: [], done: false, canceled: false, waiters: new Set() };
      jobs.set(spec.jobId, job);
      runJob(job, n, rate, delay);
    }
    return json(res, 202, { jobId: spec.jobId });
  }
  const m = /^\/jobs\/([^/]+)(\/events)?$/.exec(url.pathname);
  if (m) {
    const job = jobs.get(decodeURIComponent(m[1]));
    if (!job) return json(res, 404, { error: { code: 'job.not_found', message: 'no such job', retryable: false } });
    if (req.method === 'GET' && m[2]) return streamEvents(req, res, job, Number(url.searchParams.get('after') ?? 0));
    if (req.method === 'DELETE' && !m[2]) {
      job.canceled = true;
      jobs.delete(decodeURIComponent(m[1]));
      res.writeHead(204);
      return res.end();
    }
  }
  json(res, 404, { error: { code: 'route.not_found', message: 'no such route', retryable: false } });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
