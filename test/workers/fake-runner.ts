/**
 * A scripted media runner for the workerd tests, installed as miniflare's outbound service (it runs
 * in Node, outside workerd). It speaks the runner protocol just enough to put a task into each state
 * a lifecycle test needs; the real runner is covered by test/runner and test/e2e.
 *
 * Input URLs choose the behaviour:
 *   .../busy/...   POST /jobs answers 503 runner.busy (retryable)
 *   .../gone/...   events answer 404 (the runner forgot the job)
 *   .../quick/...  the job sends one progress event and is done
 *   anything else  the job is accepted and stays running, sending heartbeats, for 10 s
 */
const jobs = new Map<string, string>();

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

export async function fakeRunner(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.hostname !== 'runner.test') return new Response('no network in tests', { status: 502 });
  if (request.method === 'POST' && url.pathname === '/jobs') {
    const spec = (await request.json()) as { jobId: string; input: { url?: string } };
    const src = spec.input.url ?? '';
    if (src.includes('/busy/')) return json(503, { error: { code: 'runner.busy', message: 'full', retryable: true } });
    jobs.set(spec.jobId, src);
    return json(202, { jobId: spec.jobId });
  }
  const events = /^\/jobs\/([^/]+)\/events$/.exec(url.pathname);
  if (events) {
    const src = jobs.get(decodeURIComponent(events[1]!));
    if (!src || src.includes('/gone/'))
      return json(404, { error: { code: 'job.not_found', message: 'no', retryable: false } });
    let timer: ReturnType<typeof setInterval> | undefined;
    const started = Date.now();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const beat = () =>
          controller.enqueue(new TextEncoder().encode(`${JSON.stringify({ type: 'heartbeat', at: Date.now() })}\n`));
        beat();
        if (src.includes('/quick/')) {
          const lines = [
            { seq: 1, type: 'progress', stage: 'probing', progress: 50, message: 'half' },
            { seq: 2, type: 'done' },
          ];
          controller.enqueue(new TextEncoder().encode(lines.map((l) => `${JSON.stringify(l)}\n`).join('')));
          controller.close();
          return;
        }
        controller.enqueue(
          new TextEncoder().encode(
            `${JSON.stringify({ seq: 1, type: 'progress', stage: 'downloading', progress: 5, message: 'fetching' })}\n`,
          ),
        );
        timer = setInterval(() => {
          if (Date.now() - started > 10_000) {
            clearInterval(timer);
            controller.close();
          } else beat();
        }, 300);
        // never keep the test process alive for a stream nobody reads any more
        timer.unref?.();
      },
      cancel() {
        clearInterval(timer);
      },
    });
    return new Response(body, { headers: { 'content-type': 'application/x-ndjson' } });
  }
  if (request.method === 'DELETE' && url.pathname.startsWith('/jobs/')) {
    jobs.delete(decodeURIComponent(url.pathname.slice(6)));
    return new Response(null, { status: 204 });
  }
  if (url.pathname === '/health') {
    return json(200, {
      ok: true,
      version: 'fake',
      ffmpeg: null,
      ffprobe: null,
      ytDlp: null,
      activeJobs: jobs.size,
      capacity: 4,
    });
  }
  return json(404, { error: { code: 'route.not_found', message: 'no', retryable: false } });
}
