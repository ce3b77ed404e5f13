/**
 * Runner selection, in one place: the task object reaches the media runner through this interface.
 *
 * Production: the MEDIA container binding (Cloudflare Containers), one container instance per task.
 * Local mode and tests: the same runner code as a Node process at RUNNER_URL.
 */
import { getContainer } from '@cloudflare/containers';
import {
  CONTACT_KEY,
  FAILURE_PREFIX,
  failureKey,
  parseContact,
  parseFailure,
  type RunnerFailure,
  type RunnerStatusReport,
  runnerStatus,
} from '../lib/runner-status.ts';
import { ClipyardError } from '../protocol/errors.ts';
import { RUNNER_VERSION_HEADER, type RunnerHealth } from '../protocol/runner.ts';

export interface Runner {
  /** `path` is a runner-protocol path such as `/jobs/abc/events?after=3`. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Keep the runner awake while a job is in flight (long ffmpeg runs must not be put to sleep). */
  keepAlive(): Promise<void>;
  readonly kind: 'http' | 'container';
}

class HttpRunner implements Runner {
  readonly kind = 'http' as const;
  private readonly base: string;

  constructor(base: string) {
    this.base = base.replace(/\/+$/, '');
  }

  async fetch(path: string, init?: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, init);
    } catch {
      // The runner's address is internal: it goes to the log, not into a message users read.
      console.warn(JSON.stringify({ level: 'warn', msg: 'runner unreachable', runner: this.base }));
      throw new ClipyardError('runner.unreachable', 'waiting for a media runner (it is not answering)', {
        status: 503,
        retryable: true,
      });
    }
  }

  async keepAlive(): Promise<void> {}
}

class ContainerRunner implements Runner {
  readonly kind = 'container' as const;
  private readonly stub: ReturnType<typeof getContainer>;
  private readonly bucket: R2Bucket | undefined;
  private contactRecorded = false;

  constructor(ns: Env['MEDIA'], name: string, bucket?: R2Bucket) {
    this.stub = getContainer(ns, name);
    this.bucket = bucket;
  }

  async fetch(path: string, init?: RequestInit): Promise<Response> {
    try {
      const res = await this.stub.fetch(new Request(`http://runner${path}`, init));
      // What /api/health reports in container mode: one write per runner this object talks to.
      if (!this.contactRecorded && this.bucket && res.headers.has(RUNNER_VERSION_HEADER)) {
        this.contactRecorded = true;
        void recordRunnerContact(this.bucket, res.headers.get(RUNNER_VERSION_HEADER));
      }
      return res;
    } catch (err) {
      if (this.bucket) void recordRunnerFailure(this.bucket, 'runner.unreachable', 'the container did not answer');
      // What the platform said goes to the log; the user's message names no internals.
      console.warn(JSON.stringify({ level: 'warn', msg: 'runner container unreachable', error: String(err) }));
      throw new ClipyardError('runner.unreachable', 'waiting for a media runner (the container did not answer)', {
        status: 503,
        retryable: true,
      });
    }
  }

  async keepAlive(): Promise<void> {
    await this.stub.renewActivityTimeout();
  }
}

/** The runner a task (or the health check) should use; `name` picks the container instance. */
export function runnerFor(env: Env, name: string): Runner {
  if (env.RUNNER_URL) return new HttpRunner(env.RUNNER_URL);
  return new ContainerRunner(env.MEDIA, name, env.BUCKET);
}

/** Note a contact with a runner (and the version it reported) for /api/health; never throws. */
export async function recordRunnerContact(bucket: R2Bucket, version: string | null): Promise<void> {
  await bucket.put(CONTACT_KEY, JSON.stringify({ at: Date.now(), version })).catch(() => {});
}

/** Note a runner failure for /api/health (its message is for operators, without addresses); never throws. */
export async function recordRunnerFailure(bucket: R2Bucket, code: string, message: string): Promise<void> {
  const at = Date.now();
  const failure: RunnerFailure = { at, code, message: message.slice(0, 300) };
  await bucket.put(failureKey(at, crypto.randomUUID().slice(0, 8)), JSON.stringify(failure)).catch(() => {});
}

/** What is known about the container runners, from the records above (asks no container). */
async function containerStatus(bucket: R2Bucket): Promise<RunnerStatusReport> {
  const [contact, listed] = await Promise.all([
    bucket.get(CONTACT_KEY).then((o) => (o ? o.text() : null)),
    bucket.list({ prefix: FAILURE_PREFIX, limit: 10 }),
  ]);
  const failures = await Promise.all(
    listed.objects.map((o) => bucket.get(o.key).then(async (b) => parseFailure(b ? await b.text() : null))),
  );
  return runnerStatus(
    parseContact(contact),
    failures.filter((f): f is RunnerFailure => f !== null),
    Date.now(),
  );
}

/** GET /health on the runner, with a short timeout; never throws. */
export async function runnerHealth(env: Env): Promise<{
  reachable: boolean | null;
  ok: boolean;
  mode: Runner['kind'];
  health?: RunnerHealth;
  status?: RunnerStatusReport;
  error?: string;
}> {
  const mode: Runner['kind'] = env.RUNNER_URL ? 'http' : 'container';
  if (mode === 'container') {
    // Asking a sleeping container for its health would start one: report what tasks last saw.
    try {
      const status = await containerStatus(env.BUCKET);
      return { reachable: null, ok: status.ok, mode, status };
    } catch (err) {
      return { reachable: null, ok: false, mode, error: `runner status unreadable: ${String(err)}` };
    }
  }
  try {
    const res = await runnerFor(env, 'health').fetch('/health', { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return { reachable: false, ok: false, mode, error: `runner answered ${res.status}` };
    const health = (await res.json()) as RunnerHealth;
    return { reachable: true, ok: health.ok, mode, health };
  } catch (err) {
    return { reachable: false, ok: false, mode, error: err instanceof Error ? err.message : String(err) };
  }
}
