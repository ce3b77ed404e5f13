/** The cron sweep deletes what no task owns, and nothing a live task still needs. */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/lib/ids.ts';
import { sweep } from '../../src/worker/sweep.ts';
import { createTask } from './helpers.ts';

describe('sweep', () => {
  it('removes orphaned outputs and stale uploads, keeps fresh ones', async () => {
    const orphan = `tasks/${newTaskId()}/audio.mp3`;
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    const notAnOutput = `tasks/${json.id}/stray.mp3`;
    const upload = `uploads/local/${newTaskId()}`;
    for (const key of [orphan, notAnOutput, upload]) await env.BUCKET.put(key, 'x');

    const fresh = await sweep(env);
    expect(fresh.deleted).toBe(0);

    const later = await sweep(env, Date.now() + 11 * 60 * 1000);
    expect(later.deleted).toBe(2);
    expect(await env.BUCKET.head(orphan)).toBeNull();
    expect(await env.BUCKET.head(notAnOutput)).toBeNull();
    expect(await env.BUCKET.head(upload)).not.toBeNull();

    await sweep(env, Date.now() + 25 * 60 * 60 * 1000);
    expect(await env.BUCKET.head(upload)).toBeNull();
  });
});
