/**
 * GET /api/usage: the caller's daily usage against its quotas, so a client can see a 429 coming.
 */
import { Hono } from 'hono';
import { secondsUntilReset } from '../../lib/quota.ts';
import { dailyLimits } from '../../objects/config.ts';
import type { AppEnv } from '../auth.ts';

export const usage = new Hono<AppEnv>();

usage.get('/', async (c) => {
  const now = Date.now();
  const used = await c.env.TENANTS.getByName(c.get('tenant')).usage(now);
  const limits = dailyLimits(c.env);
  return c.json({
    day: used.day,
    tasks: { used: used.tasks, limit: limits.tasksPerDay || null },
    outputBytes: { used: used.outputBytes, limit: limits.outputBytesPerDay || null },
    resetsInSeconds: secondsUntilReset(now),
  });
});
