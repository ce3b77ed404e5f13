/**
 * /api/health in container mode (no RUNNER_URL) never answers a hard-coded ok: it reports what tasks
 * last saw of a runner (last contact, the version the runner reported, recent failures), and a recent
 * failure newer than any contact makes it 503. No container is asked.
 */
import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { CONTACT_KEY, FAILURE_PREFIX } from '../../src/lib/runner-status.ts';
import { recordRunnerContact, recordRunnerFailure } from '../../src/objects/runner.ts';
import worker from '../../src/worker/index.ts';
import { ORIGIN } from './helpers.ts';

interface RunnerPart {
  ok: boolean;
  reachable: boolean | null;
  mode: string;
  state?: string;
  version?: string | null;
  lastContactAt?: string | null;
  recentFailures?: { code: string }[];
}

async function health(): Promise<{ status: number; runner: RunnerPart }> {
  const res = await worker.fetch(
    new Request(`${ORIGIN}/api/health`),
    { ...env, RUNNER_URL: '' } as Env,
    createExecutionContext(),
  );
  const body = (await res.json()) as { components: { runner: RunnerPart } };
  return { status: res.status, runner: body.components.runner };
}

beforeEach(async () => {
  const listed = await env.BUCKET.list({ prefix: 'health/runner/' });
  await Promise.all(listed.objects.map((o) => env.BUCKET.delete(o.key)));
});

describe('health in container mode', () => {
  it('says it does not know before any runner was seen, without claiming reachable', async () => {
    const { status, runner } = await health();
    expect(status).toBe(200);
    expect(runner).toMatchObject({ mode: 'container', reachable: null, state: 'unknown', lastContactAt: null });
  });

  it('reports the last contact and the version the runner sent', async () => {
    await recordRunnerContact(env.BUCKET, '9.9.9');
    const { status, runner } = await health();
    expect(status).toBe(200);
    expect(runner).toMatchObject({ ok: true, state: 'ok', version: '9.9.9' });
    expect(Date.now() - Date.parse(runner.lastContactAt!)).toBeLessThan(60_000);
    expect(await env.BUCKET.head(CONTACT_KEY)).not.toBeNull();
  });

  it('is 503 while the newest news is a runner failure, and lists it', async () => {
    await recordRunnerContact(env.BUCKET, '9.9.9');
    await new Promise((r) => setTimeout(r, 5));
    await recordRunnerFailure(env.BUCKET, 'runner.crashed', 'a runner container stopped (exit, exit 137)');
    const { status, runner } = await health();
    expect(status).toBe(503);
    expect(runner).toMatchObject({ ok: false, state: 'failing', recentFailures: [{ code: 'runner.crashed' }] });
    expect((await env.BUCKET.list({ prefix: FAILURE_PREFIX })).objects).toHaveLength(1);
    // a later successful contact clears the verdict but keeps the failure in the list
    await new Promise((r) => setTimeout(r, 5));
    await recordRunnerContact(env.BUCKET, '9.9.9');
    const after = await health();
    expect(after.status).toBe(200);
    expect(after.runner).toMatchObject({ state: 'ok', recentFailures: [{ code: 'runner.crashed' }] });
  });
});
