/** Daily quotas: one task or a batch admitted whole against today's usage, and when the day resets. */
import { describe, expect, it } from 'vitest';
import { admit, dayKey, secondsUntilReset } from '../../src/lib/quota.ts';

const NOW = Date.UTC(2026, 11, 2, 23, 59, 30);
const usage = (tasks: number, outputBytes = 0) => ({ day: dayKey(NOW), tasks, outputBytes });

describe('daily quotas', () => {
  it('admits one task while the day has room, then refuses with the seconds until midnight UTC', () => {
    const limits = { tasksPerDay: 2, outputBytesPerDay: 0 };
    expect(admit(usage(1), limits, NOW)).toEqual({ ok: true, counted: true });
    expect(admit(usage(2), limits, NOW)).toMatchObject({ ok: false, code: 'quota.tasks', retryAfterSeconds: 30 });
    expect(secondsUntilReset(NOW)).toBe(30);
  });

  it('admits a batch whole or not at all, and says how much room the day has left', () => {
    const limits = { tasksPerDay: 10, outputBytesPerDay: 0 };
    expect(admit(usage(7), limits, NOW, 3)).toEqual({ ok: true, counted: true });
    const refused = admit(usage(7), limits, NOW, 4);
    expect(refused).toMatchObject({ ok: false, code: 'quota.tasks' });
    expect(refused.ok === false && refused.message).toMatch(/room for 3 more, not 4/);
  });

  it('refuses once the output bytes are used up; 0 means no limit', () => {
    expect(admit(usage(0, 4096), { tasksPerDay: 0, outputBytesPerDay: 4096 }, NOW)).toMatchObject({
      code: 'quota.output_bytes',
    });
    expect(admit(usage(10 ** 6, 10 ** 12), { tasksPerDay: 0, outputBytesPerDay: 0 }, NOW, 500)).toMatchObject({
      ok: true,
    });
  });
});
