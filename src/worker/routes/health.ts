/**
 * GET /api/health: is storage answering, is the media runner reachable, and with which tools. In
 * container mode no container is asked (that would start one): the runner part is what tasks last
 * saw (src/lib/runner-status.ts): last contact, the version it reported, recent failures.
 */
import { Hono } from 'hono';
import { taskConfig } from '../../objects/config.ts';
import { runnerHealth } from '../../objects/runner.ts';
import type { AppEnv } from '../auth.ts';

export const health = new Hono<AppEnv>();

health.get('/', async (c) => {
  const started = Date.now();
  const [storage, runner, queue] = await Promise.all([
    c.env.BUCKET.head('health/probe').then(
      () => ({ ok: true }),
      (err: unknown) => ({ ok: false, error: err instanceof Error ? err.message : String(err) }),
    ),
    runnerHealth(c.env),
    c.get('tenant')
      ? c.env.TENANTS.getByName(c.get('tenant'))
          .counts(taskConfig(c.env).stallTimeoutMs)
          .catch(() => null)
      : Promise.resolve(null),
  ]);
  const ok = storage.ok && runner.ok;
  return c.json(
    {
      ok,
      components: {
        storage,
        runner: {
          ok: runner.ok,
          reachable: runner.reachable,
          mode: runner.mode,
          version: runner.health?.version ?? null,
          ffmpeg: runner.health?.ffmpeg ?? null,
          ytDlp: runner.health?.ytDlp ?? null,
          activeJobs: runner.health?.activeJobs ?? null,
          capacity: runner.health?.capacity ?? null,
          transcriber: runner.health?.transcriber ?? null,
          ...(runner.status
            ? {
                state: runner.status.state,
                version: runner.status.version,
                lastContactAt: runner.status.lastContactAt,
                recentFailures: runner.status.recentFailures,
              }
            : {}),
          ...(runner.error ? { error: runner.error } : {}),
        },
      },
      queue,
      tookMs: Date.now() - started,
    },
    ok ? 200 : 503,
  );
});
