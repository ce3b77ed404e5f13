/** taskConfig (src/objects/config.ts): parsed once per env object, parsed again when a var changes. */
import { describe, expect, it } from 'vitest';
import { taskConfig } from '../../src/objects/config.ts';

describe('taskConfig', () => {
  it('answers the same parsed settings for the same env, and new ones once a var changed', () => {
    const env = { RETRY_DELAYS_MS: '100,200', STALL_TIMEOUT_MS: '9000' } as unknown as Env;
    const first = taskConfig(env);
    expect(first).toMatchObject({ retryDelaysMs: [100, 200], stallTimeoutMs: 9_000, maxAttempts: 4 });
    expect(taskConfig(env)).toBe(first);
    (env as unknown as Record<string, string>).RETRY_DELAYS_MS = '300';
    const second = taskConfig(env);
    expect(second.retryDelaysMs).toEqual([300]);
    expect(second).not.toBe(first);
    // another env object with the same vars has its own
    expect(taskConfig({ ...env } as Env)).toEqual(second);
  });
});
