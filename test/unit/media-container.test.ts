/**
 * MediaContainer's own behaviour, with the Cloudflare base class replaced by a small fake: a runner
 * that still has jobs when its idle timeout expires is kept awake; an idle or unanswering one is
 * stopped; a stopped one is never started again just to ask.
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('@cloudflare/containers', () => ({
  Container: class {
    ctx: unknown;
    env: unknown;
    stopped = 0;
    renewed = 0;
    fetched: string[] = [];
    health: (() => Promise<Response>) | null = null;
    constructor(ctx: unknown, env: unknown) {
      this.ctx = ctx;
      this.env = env;
    }
    async containerFetch(req: Request): Promise<Response> {
      this.fetched.push(new URL(req.url).pathname);
      if (!this.health) throw new Error('no runner');
      return this.health();
    }
    async stop(): Promise<void> {
      this.stopped += 1;
    }
    renewActivityTimeout(): void {
      this.renewed += 1;
    }
  },
}));

const { MediaContainer, RUNNER_PORT, runnerEnvVars } = await import('../../src/objects/media-container.ts');

interface Fake {
  stopped: number;
  renewed: number;
  fetched: string[];
  health: (() => Promise<Response>) | null;
  onActivityExpired(): Promise<void>;
}

function container(running: boolean, health: (() => Promise<Response>) | null): Fake {
  const ctx = { id: { name: 'task123', toString: () => 'abc' }, container: { running } };
  const c = new MediaContainer(ctx as never, { CLIPYARD_ALLOW_HOSTS: 'media.test' } as Env) as unknown as Fake;
  c.health = health;
  return c;
}

const healthWith = (activeJobs: number) => async () => Response.json({ ok: true, activeJobs });

describe('MediaContainer', () => {
  it('passes the runner its port, the host allowance and the job limits the Worker has', () => {
    expect(runnerEnvVars({ CLIPYARD_ALLOW_HOSTS: 'media.test', JOB_TIMEOUT_MS: '60000', MAX_INPUT_BYTES: '' })).toEqual(
      {
        HOST: '0.0.0.0',
        PORT: String(RUNNER_PORT),
        CLIPYARD_ALLOW_HOSTS: 'media.test',
        JOB_TIMEOUT_MS: '60000',
      },
    );
  });

  it('stays awake at its idle timeout while the runner has a job', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const c = container(true, healthWith(1));
    await c.onActivityExpired();
    expect(c.fetched).toEqual(['/health']);
    expect(c.renewed).toBe(1);
    expect(c.stopped).toBe(0);
  });

  it('sleeps when the runner is idle or does not answer', async () => {
    const idle = container(true, healthWith(0));
    await idle.onActivityExpired();
    expect(idle.stopped).toBe(1);
    const silent = container(true, null);
    await silent.onActivityExpired();
    expect(silent.stopped).toBe(1);
    expect(silent.renewed).toBe(0);
  });

  it('does not start a stopped container just to ask it', async () => {
    const c = container(false, healthWith(1));
    await c.onActivityExpired();
    expect(c.fetched).toEqual([]);
    expect(c.stopped).toBe(0);
  });
});
