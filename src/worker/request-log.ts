/**
 * One structured JSON log line per API request: method, path, status, duration, the tenant, and the
 * task or batch id the path names, plus the error code when the answer is an error. Workers
 * observability ([observability] in wrangler.toml) indexes these fields, so a task's requests can
 * be found by its id. API keys and query strings are never logged.
 */
import { createMiddleware } from 'hono/factory';
import { knownError } from '../protocol/errors.ts';
import type { AppEnv } from './auth.ts';

/** The log record for one request (pure, for tests). */
export function requestRecord(
  method: string,
  pathname: string,
  status: number,
  ms: number,
  tenant: string | undefined,
  error: unknown,
): Record<string, unknown> {
  const task = /^\/api\/tasks\/([a-z2-7]{20})(?:\/|$)/.exec(pathname)?.[1];
  const batch = /^\/api\/batches\/([a-z2-7]{20})(?:\/|$)/.exec(pathname)?.[1];
  const code = error ? (knownError(error)?.code ?? 'internal') : undefined;
  return {
    level: status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info',
    msg: 'request',
    method,
    path: pathname.slice(0, 200),
    status,
    ms,
    ...(tenant ? { tenant } : {}),
    ...(task ? { task } : {}),
    ...(batch ? { batch } : {}),
    ...(code ? { code } : {}),
  };
}

export const requestLog = createMiddleware<AppEnv>(async (c, next) => {
  const started = Date.now();
  try {
    await next();
  } finally {
    const record = requestRecord(
      c.req.method,
      new URL(c.req.url).pathname,
      c.res.status,
      Date.now() - started,
      c.get('tenant') || undefined,
      c.error,
    );
    // the console method matches the record's level, so log views can filter on either
    const write = record.level === 'error' ? console.error : record.level === 'warn' ? console.warn : console.log;
    write(JSON.stringify(record));
  }
});
