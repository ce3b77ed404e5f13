/**
 * Runner selection, in one place: the task object reaches the media runner through this interface.
 *
 * Production: the MEDIA container binding (Cloudflare Containers), one container instance per task.
 * Local mode and tests: the same runner code as a Node process at RUNNER_URL.
 */
import { getContainer } from '@cloudflare/containers';
import { ClipyardError } from '../protocol/errors.ts';
import type { RunnerHealth } from '../protocol/runner.ts';

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

  constructor(ns: Env['MEDIA'], name: string) {
    this.stub = getContainer(ns, name);
  }

  async fetch(path: string, init?: RequestInit): Promise<Response> {
    try {
      return await this.stub.fetch(new Request(`http://runner${path}`, init));
    } catch (err) {
      throw new ClipyardError(
        'runner.unreachable',
        `waiting for a media runner (the container did not answer: ${String(err)})`,
        {
          status: 503,
          retryable: true,
        },
      );
    }
  }

  async keepAlive(): Promise<void> {
    await this.stub.renewActivityTimeout();
  }
}

/** The runner a task (or the health check) should use; `name` picks the container instance. */
export function runnerFor(env: Env, name: string): Runner {
  if (env.RUNNER_URL) return new HttpRunner(env.RUNNER_URL);
  return new ContainerRunner(env.MEDIA, name);
}

/** GET /health on the runner, with a short timeout; never throws. */
export async function runnerHealth(
  env: Env,
): Promise<{ reachable: boolean; mode: Runner['kind']; health?: RunnerHealth; error?: string }> {
  const mode: Runner['kind'] = env.RUNNER_URL ? 'http' : 'container';
  if (mode === 'container') {
    // Asking a sleeping container for its health would start one; report the configuration instead.
    return { reachable: true, mode };
  }
  try {
    const res = await runnerFor(env, 'health').fetch('/health', { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return { reachable: false, mode, error: `runner answered ${res.status}` };
    return { reachable: true, mode, health: (await res.json()) as RunnerHealth };
  } catch (err) {
    return { reachable: false, mode, error: err instanceof Error ? err.message : String(err) };
  }
}
