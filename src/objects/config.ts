/**
 * Numbers and lists from the Worker's vars, parsed once per use with safe defaults.
 */
import { parseDelays } from '../lib/retry-policy.ts';

export interface TaskConfig {
  stallTimeoutMs: number;
  retryDelaysMs: number[];
  maxAttempts: number;
  linkTtlSeconds: number;
  outputTtlMs: number;
  allowHosts: string[];
  maxConcurrentTasks: number;
}

function num(raw: string | undefined, fallback: number, min = 0): number {
  const n = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(n) && n >= min ? n : fallback;
}

export function taskConfig(env: Env): TaskConfig {
  return {
    stallTimeoutMs: num(env.STALL_TIMEOUT_MS, 30_000, 500),
    retryDelaysMs: parseDelays(env.RETRY_DELAYS_MS),
    maxAttempts: num(env.MAX_ATTEMPTS, 4, 1),
    linkTtlSeconds: num(env.LINK_TTL_SECONDS, 3_600, 1),
    outputTtlMs: num(env.OUTPUT_TTL_SECONDS, 86_400, 1) * 1_000,
    allowHosts: allowHosts(env),
    maxConcurrentTasks: num(env.MAX_CONCURRENT_TASKS, 4, 1),
  };
}

export function allowHosts(env: Env): string[] {
  return (env.CLIPYARD_ALLOW_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
}

/** The current link secret first, then the one being rotated out (if any). */
export function linkSecrets(env: Env): string[] {
  return [env.LINK_SECRET, env.LINK_SECRET_PREVIOUS].filter((s): s is string => typeof s === 'string' && s.length > 0);
}
